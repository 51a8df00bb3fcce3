# Shared helpers of the project's scripts. Source it; it changes nothing by itself.

# ensure_packages CMD:PKG ...: installs the Debian package PKG when command CMD is missing.
# Needs root (as on CI and the development machines); otherwise it says what to install.
ensure_packages() {
  local missing=() pair
  for pair in "$@"; do
    command -v "${pair%%:*}" >/dev/null 2>&1 || missing+=("${pair#*:}")
  done
  [ ${#missing[@]} -eq 0 ] && return 0
  if [ "$(id -u)" -ne 0 ]; then
    echo "missing packages: ${missing[*]}; install them with: sudo apt-get install -y ${missing[*]}" >&2
    return 1
  fi
  echo "installing ${missing[*]}" >&2
  # Packages with services (nginx) must not start them on the machine: the lab runs its own
  # copies inside network namespaces. A temporary policy-rc.d forbids the start.
  local guard=/usr/sbin/policy-rc.d added=""
  if [ ! -e "$guard" ]; then
    printf '#!/bin/sh\nexit 101\n' > "$guard" && chmod +x "$guard" && added=1
  fi
  local rc=0
  DEBIAN_FRONTEND=noninteractive apt-get update -qq >/dev/null &&
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null || rc=$?
  [ -n "$added" ] && rm -f "$guard"
  return $rc
}

# ensure_rust: the pinned toolchain of rust-toolchain.toml must be present (rustup installs it).
ensure_rust() {
  if ! command -v cargo >/dev/null 2>&1; then
    echo "cargo is missing: install Rust with rustup (https://rustup.rs), then run this again" >&2
    return 1
  fi
}
