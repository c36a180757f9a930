#!/bin/sh
# Installs the named packages from Debian 12 (bookworm) on the stand-in's Debian 13 (trixie)
# base: bookworm is added at priority 100 (its packages only where trixie has none), the named
# ones (or the globs in BOOKWORM_PIN) at 600 as bookworm released them, not from its updates or
# security suites: the version a machine installed from the release has, as the packages of
# scripts/test-services.sh (PostgreSQL 15.20, from the security suite, marks every column with a
# pg_attver option that PostgreSQL 18.6 refuses on restore). What they depend on stays trixie's
# wherever trixie has it. Services are not started while installing (policy-rc.d), and apt's
# lists are removed after.
#
#   [BOOKWORM_PIN='glob...'] apt-from-bookworm.sh PACKAGE...
set -eu
sed '/^Suites:/ s/trixie/bookworm/g' /etc/apt/sources.list.d/debian.sources \
  >/etc/apt/sources.list.d/bookworm.sources
{
  printf 'Package: %s\nPin: release n=bookworm\nPin-Priority: 600\n\n' "${BOOKWORM_PIN:-$*}"
  for suite in bookworm bookworm-updates bookworm-security; do
    printf 'Package: *\nPin: release n=%s\nPin-Priority: 100\n\n' "$suite"
  done
} >/etc/apt/preferences.d/bookworm
printf '#!/bin/sh\nexit 101\n' >/usr/sbin/policy-rc.d
chmod 0755 /usr/sbin/policy-rc.d
apt-get update
DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends "$@"
rm -f /usr/sbin/policy-rc.d
rm -rf /var/lib/apt/lists/* /var/cache/apt/*
