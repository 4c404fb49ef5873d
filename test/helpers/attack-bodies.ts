/** Request bodies from issue 12's attack pass, generated in the test, byte for byte as reported. */

const unterminatedBody = '--XX\r\nContent-Disposition: form-data; name="image"; filename="a.jpg"\r\n\r\nabc';

/** Finding 1: a multipart body with no closing boundary, as raw HTTP (head without its blank line, and body). */
export const unterminatedMultipart = {
  head: `POST /v1/predict HTTP/1.1\r\nHost: faceops\r\nContent-Type: multipart/form-data; boundary=XX\r\nContent-Length: ${unterminatedBody.length}`,
  body: unterminatedBody,
};
