// test/helpers/unit-tier-guard.mjs has no exports: importing it installs the unit tier's guard.
export {};
