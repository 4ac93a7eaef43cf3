#!/usr/bin/env bash
# Refreshes assets/ from the swagger-ui-dist that package-lock.json pins
# (`make docs-assets`). To move to another version: change it in
# package.json, run `npm install --package-lock-only --ignore-scripts`, then
# this script, then the apidocs tests and the browser test (TestBrowserDocs).
#
# npm ci checks the tarball against the lock file's integrity (sha512);
# manifest.json records that integrity and the sha256 of every copied file,
# and apidocs_test.go checks the embedded files against it, so a file changed
# by hand, or a lock file moved without a refresh, fails a test.
# --ignore-scripts: swagger-ui-dist depends on @scarf/scarf, whose install
# script reports the installation to a third party.
set -euo pipefail
cd "$(dirname "$0")"

pkg=swagger-ui-dist
files=(swagger-ui-bundle.js swagger-ui.css swagger-ui-bundle.js.LICENSE.txt LICENSE NOTICE)

tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
cp package.json package-lock.json "$tmp/"
(cd "$tmp" && npm ci --ignore-scripts --no-audit --no-fund --loglevel=error)
dist=$tmp/node_modules/$pkg

rm -f assets/*
mkdir -p assets
for f in "${files[@]}"; do
	cp "$dist/$f" "assets/$f"
done

PKG=$pkg DIST=$dist node - "${files[@]}" > assets/manifest.json <<'EOF'
const fs = require("fs");
const crypto = require("crypto");
const pkg = process.env.PKG;
const lock = JSON.parse(fs.readFileSync("package-lock.json", "utf8")).packages["node_modules/" + pkg];
const version = JSON.parse(fs.readFileSync(process.env.DIST + "/package.json", "utf8")).version;
if (version !== lock.version) throw new Error(`installed ${version}, lock file says ${lock.version}`);
const files = {};
for (const f of process.argv.slice(2)) {
  files[f] = crypto.createHash("sha256").update(fs.readFileSync("assets/" + f)).digest("hex");
}
process.stdout.write(JSON.stringify({ package: pkg, version, integrity: lock.integrity, sha256: files }, null, 2) + "\n");
EOF

du -ch assets/* | tail -1 | sed "s/total/assets\\/ ($pkg $(node -p "require('./assets/manifest.json').version"))/"
