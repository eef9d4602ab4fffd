// Stands in for node:child_process in the CLI bundle (package.json, build:ts: esbuild
// --alias). commander requires node:child_process when it loads, for subcommands that are
// separate executables (xaev has none), and so does `sync receive --from CMD`; loading it
// (with dgram and the rest it pulls in) costs every xaev start ~6 ms. Here it loads on the
// first spawn(). (node:net loads anyway: chalk's node:tty needs it.)
'use strict';

let loaded;
module.exports = {
  spawn(...args) {
    loaded ??= require('child_process'); // not node:child_process, which the alias maps here
    return loaded.spawn(...args);
  },
};
