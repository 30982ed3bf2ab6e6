#!/usr/bin/env bash
# Packaging checks: what `npm pack` ships, and that the tarball installs and loads on a machine with no
# compiler: with the prebuild (native codec), without it (falls back to the TypeScript codec), and with
# install scripts disabled. Run from anywhere after `npm run build` (dist/); builds prebuilds/ if missing.
# Prints one line per named check; writes "<passed> <failed>" to $CGIWIRE_RESULTS/packaging when set;
# exits non-zero when any check fails.
set -uo pipefail
cd "$(dirname "$0")/../.."
root=$PWD
here=$root/test/packaging
fixture=$root/test/fixtures/nginx-fastcgi-get.bin

passed=0; failed=0
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

report() { # name rc output-file summary
  local name=$1 rc=$2 out=$3 summary=$4
  if [ "$rc" -eq 0 ]; then
    passed=$((passed + 1)); echo "  ok    $name: $summary"
  else
    failed=$((failed + 1)); echo "  FAIL  $name"
    tail -n 25 "$out" | sed 's/^/          /'
  fi
}

n=0; last_out=
check() { # name command...: the command's last output line is the summary
  local name=$1; shift
  n=$((n + 1)); last_out=$work/out.$n
  "$@" >"$last_out" 2>&1 </dev/null
  local rc=$?
  report "$name" "$rc" "$last_out" "$(tail -n 1 "$last_out")"
}

finish() {
  echo "packaging: $passed passed, $failed failed"
  if [ -n "${CGIWIRE_RESULTS:-}" ]; then echo "$passed $failed" > "$CGIWIRE_RESULTS/packaging"; fi
  [ "$failed" -eq 0 ]
  exit
}

# Fake compilers, first on PATH for every install: each logs its call and fails.
fakebin=$work/fakebin
calls=$work/compiler-calls
mkdir -p "$fakebin"; : > "$calls"
for tool in g++ gcc cc c++ clang clang++ make; do
  printf '#!/bin/sh\necho "$(basename "$0") $*" >> %q\necho "$(basename "$0"): no compiler on this machine (cgiwire packaging test)" >&2\nexit 1\n' \
    "$calls" > "$fakebin/$tool"
  chmod +x "$fakebin/$tool"
done

# Runs a command in folder $1 as a user's machine would: no compiler, none of the npm_* variables of an
# enclosing `npm test` (npm_config_local_prefix would point npm at this repo), none of the node_modules/.bin
# folders it put on PATH, no CGIWIRE_CODEC unless given.
user_path=$(tr ':' '\n' <<<"$PATH" | grep -v -e '/node_modules/\.bin$' -e '/node-gyp-bin$' | paste -sd:)
clean() {
  local dir=$1; shift
  local unset=(-u CC -u CXX -u CGIWIRE_CODEC -u INIT_CWD -u NODE_PATH -u NODE_OPTIONS)
  local v
  for v in $(compgen -e); do case $v in npm_*|NPM_*) unset+=(-u "$v");; esac; done
  (cd "$dir" && env "${unset[@]}" PATH="$fakebin:$user_path" npm_config_nodedir=/usr \
    npm_config_audit=false npm_config_fund=false npm_config_update_notifier=false "$@")
}

# A fresh app folder with the given tarball installed; extra args go to npm install.
install_into() { # dir tarball npm-install-args...
  local dir=$1 tgz=$2; shift 2
  mkdir -p "$dir" || return 1
  clean "$dir" npm init -y >/dev/null || { echo "npm init -y failed"; return 1; }
  : > "$calls"
  clean "$dir" timeout 300 npm install "$@" "$tgz" || { echo "npm install failed"; return 1; }
  cp "$here/check-load.mjs" "$here/check-require.cjs" "$dir/"
}

# Runs check-load.mjs (the command given); every decode must match the first successful one (b2's, normally).
ref_digest=
same_decode() {
  local out; out=$("$@" 2>&1) || { echo "$out"; return 1; }
  echo "$out"
  local digest; digest=$(grep -o 'digest=[0-9a-f]*' <<<"$out" | tail -n 1 | cut -d= -f2)
  [ -n "$ref_digest" ] || { ref_digest=$digest; return 0; }
  [ "$digest" = "$ref_digest" ] || { echo "decode differs from the first one (digest=$ref_digest)"; return 1; }
}

# --- a prebuild to pack
if ! ls prebuilds/linux-x64/*.node >/dev/null 2>&1; then
  prebuildify() { npx prebuildify --napi --strip --tag-libc && echo "built $(ls prebuilds/linux-x64/*.node)"; }
  check "prebuildify (prebuilds/ was missing)" prebuildify
fi
[ -f "$fixture" ] || { echo "  FAIL  fixture $fixture is missing"; failed=$((failed + 1)); finish; }

# --- a. npm pack
tgz=
pack_check() {
  local json
  json=$(npm pack --json --pack-destination "$work" 2>"$work/pack.err") || { cat "$work/pack.err"; return 1; }
  local name
  name=$(printf '%s' "$json" | node -e 'let s="";process.stdin.on("data",d=>s+=d).on("end",()=>console.log(JSON.parse(s)[0].filename))') || return 1
  tgz=$work/$name
  [ -f "$tgz" ] || { echo "npm pack made no $tgz"; return 1; }
  tar tzf "$tgz" > "$work/list" || return 1
  local missing=() bad f
  grep -qE '^package/prebuilds/linux-x64/[^/]+\.node$' "$work/list" || missing+=("package/prebuilds/linux-x64/*.node")
  for f in dist/index.js dist/index.d.ts binding.gyp package.json \
           $(grep -oE 'native/[A-Za-z0-9_./-]+\.(cc|cpp|c)' binding.gyp | sort -u) \
           $(cd "$root" && ls native/*.h 2>/dev/null); do
    grep -qxF "package/$f" "$work/list" || missing+=("package/$f")
  done
  bad=$(grep -E '^package/(test|node_modules|build)/|/node_modules/' "$work/list" | head -n 5)
  [ ${#missing[@]} -eq 0 ] || echo "missing from the tarball: ${missing[*]}"
  [ -z "$bad" ] || echo "should not be in the tarball: $bad"
  [ ${#missing[@]} -eq 0 ] && [ -z "$bad" ] || return 1
  echo "$name: $(wc -l < "$work/list") files; prebuild, dist, native sources, binding.gyp; no test/ node_modules/ build/"
}
check "a  npm pack contents" pack_check
if [ -z "$tgz" ] || [ ! -f "$tgz" ]; then
  echo "  (no tarball: the install checks cannot run)"; failed=$((failed + 1)); finish
fi

# --- b. the full tarball, no compiler
app_full=$work/app-full
b_install() {
  install_into "$app_full" "$tgz" || return 1
  if [ -s "$calls" ]; then echo "a compiler was invoked during install: $(head -n 3 "$calls" | tr '\n' ';')"; return 1; fi
  echo "installed with no compiler invoked"
}
check "b1 install full tarball, no compiler" b_install
check "b2 ESM import -> native, decode fixture" same_decode clean "$app_full" node check-load.mjs "$fixture" native
check "b3 CommonJS require -> native" clean "$app_full" node check-require.cjs native
check "b4 CGIWIRE_CODEC=js -> js, same decode" same_decode clean "$app_full" env CGIWIRE_CODEC=js node check-load.mjs "$fixture" js

# --- c. the tarball without prebuilds/: install falls back, the package loads the TypeScript codec
app_js=$work/app-noprebuild
c_install() {
  local unpack=$work/unpack
  mkdir -p "$unpack" && tar xzf "$tgz" -C "$unpack" || return 1
  rm -rf "$unpack/package/prebuilds"
  local slim=$work/cgiwire-noprebuild.tgz
  tar czf "$slim" -C "$unpack" package || return 1
  install_into "$app_js" "$slim" --foreground-scripts > "$work/c-install.log" 2>&1
  local rc=$?
  if [ $rc -ne 0 ]; then tail -n 20 "$work/c-install.log"; return 1; fi
  if ! grep -q 'cgiwire: no native codec could be built' "$work/c-install.log"; then
    tail -n 10 "$work/c-install.log"; echo "install succeeded but printed no fallback warning"; return 1
  fi
  echo "install succeeded with the fallback warning (fake compiler calls: $(wc -l < "$calls"))"
}
check "c1 install without prebuild, no compiler" c_install
check "c2 ESM import -> js, same decode" same_decode clean "$app_js" node check-load.mjs "$fixture" js
check "c3 CommonJS require -> js" clean "$app_js" node check-require.cjs js
check "c4 CGIWIRE_CODEC=native -> ERR_CGIWIRE_NATIVE_UNAVAILABLE" \
  clean "$app_js" env CGIWIRE_CODEC=native node check-load.mjs --expect-error ERR_CGIWIRE_NATIVE_UNAVAILABLE

# --- d. the full tarball with install scripts disabled: node-gyp-build finds the prebuild at run time
app_noscripts=$work/app-ignore-scripts
d_install() {
  install_into "$app_noscripts" "$tgz" --ignore-scripts || return 1
  if [ -s "$calls" ]; then echo "a compiler was invoked: $(head -n 3 "$calls" | tr '\n' ';')"; return 1; fi
  echo "installed with --ignore-scripts"
}
check "d1 install --ignore-scripts, no compiler" d_install
check "d2 ESM import -> native, same decode" same_decode clean "$app_noscripts" node check-load.mjs "$fixture" native

finish
