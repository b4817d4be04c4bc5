#!/usr/bin/env bash
# install.sh — `make install`'s work. Usage (from the Makefile):
#   deploy/install.sh DESTDIR PREFIX SYSCONFDIR BUILD VERSION
#
#   PREFIX/bin/                       divertd divertctl divert-submit divert-watch divert-cms divert-web
#   PREFIX/lib/systemd/system/        divertd.service divert-web.service
#   PREFIX/lib/sysusers.d/divert.conf PREFIX/lib/tmpfiles.d/divert.conf
#   PREFIX/lib/libdivert-client.a     PREFIX/lib/pkgconfig/divert.pc
#   PREFIX/include/divert/dv_client.h
#   PREFIX/share/divert/sql/NNN_*.sql (what `divertctl migrate` applies)
#   PREFIX/share/divert/web/          divert-web's pages
#   PREFIX/share/man/man{1,5,8}/
#   SYSCONFDIR/divert/divertd.conf    only when there is none: an existing
#   SYSCONFDIR/divert/divert-web.conf config is never overwritten
#   SYSCONFDIR/divert/web/            divert-web's keys (0700, made empty)
# Paths inside the unit, snippets, config and man pages follow PREFIX and
# SYSCONFDIR. Without DESTDIR, as root, the divert user and /etc/divert's
# modes are applied at once (systemd-sysusers, systemd-tmpfiles).
set -euo pipefail
[ $# -eq 5 ] || { echo "usage: $0 DESTDIR PREFIX SYSCONFDIR BUILD VERSION" >&2; exit 64; }
DESTDIR=$1 PREFIX=$2 SYSCONFDIR=$3 BUILD=$4 VERSION=$5
cd "$(dirname "$0")/.."

BINDIR=$PREFIX/bin
LIBDIR=$PREFIX/lib
INCLUDEDIR=$PREFIX/include
DATADIR=$PREFIX/share
MANDIR=$DATADIR/man
UNITDIR=$LIBDIR/systemd/system
CONFDIR=$SYSCONFDIR/divert

for f in divertd divertctl divert-submit divert-watch divert-cms divert-web; do
    [ -x "$BUILD/bin/$f" ] || { echo "install: $BUILD/bin/$f is missing: run make first" >&2; exit 1; }
done
[ -f "$BUILD/libdivert-client.a" ] || { echo "install: $BUILD/libdivert-client.a is missing" >&2; exit 1; }

# Rewrite the packaged paths (/usr/bin, /usr/share/divert, /etc/divert) for
# this PREFIX and SYSCONFDIR.
paths() {
    sed -e "s|/usr/bin/divertd|$BINDIR/divertd|g" \
        -e "s|/usr/bin/divert-web|$BINDIR/divert-web|g" \
        -e "s|/usr/share/divert|$DATADIR/divert|g" \
        -e "s|/etc/divert|$CONFDIR|g" "$1"
}
# directory DIR: create it (0755) unless it exists; an existing one keeps its mode
directory() { [ -d "$1" ] || install -d -m 0755 "$1"; }
# put MODE SOURCE TARGET: install one file, paths rewritten for text files
put() {
    local mode=$1 source=$2 target=$DESTDIR$3
    directory "$(dirname "$target")"
    install -m "$mode" "$source" "$target"
    echo "  $3"
}
put_text() {
    local mode=$1 source=$2 target=$DESTDIR$3 tmp
    tmp=$(mktemp)
    paths "$source" >"$tmp"
    directory "$(dirname "$target")"
    install -m "$mode" "$tmp" "$target"
    rm -f "$tmp"
    echo "  $3"
}

echo "installing divert $VERSION into ${DESTDIR:-/} (prefix $PREFIX)"
for f in divertd divertctl divert-submit divert-watch divert-cms divert-web; do
    put 0755 "$BUILD/bin/$f" "$BINDIR/$f"
done

put_text 0644 deploy/divertd.service "$UNITDIR/divertd.service"
put_text 0644 deploy/divert-web.service "$UNITDIR/divert-web.service"
for f in clients/divert-web/static/*; do
    put 0644 "$f" "$DATADIR/divert/web/$(basename "$f")"
done
put_text 0644 deploy/divert.sysusers "$LIBDIR/sysusers.d/divert.conf"
put_text 0644 deploy/divert.tmpfiles "$LIBDIR/tmpfiles.d/divert.conf"

for f in sql/[0-9]*_*.sql; do
    put 0644 "$f" "$DATADIR/divert/sql/$(basename "$f")"
done

put 0644 common/dv_client.h "$INCLUDEDIR/divert/dv_client.h"
put 0644 "$BUILD/libdivert-client.a" "$LIBDIR/libdivert-client.a"
pc=$(mktemp)
sed -e "s|@PREFIX@|$PREFIX|g" -e "s|@LIBDIR@|\${prefix}/lib|g" \
    -e "s|@INCLUDEDIR@|\${prefix}/include|g" -e "s|@VERSION@|$VERSION|g" deploy/divert.pc.in >"$pc"
put 0644 "$pc" "$LIBDIR/pkgconfig/divert.pc"
rm -f "$pc"

for page in deploy/man/*.[0-9]; do
    section=${page##*.}
    put_text 0644 "$page" "$MANDIR/man$section/$(basename "$page")"
done

# The config: 0640 (it may hold a database password); the group becomes
# divert through the tmpfiles snippet. Never overwrite the operator's.
directory "$(dirname "$DESTDIR$CONFDIR")"
[ -d "$DESTDIR$CONFDIR" ] || install -d -m 0750 "$DESTDIR$CONFDIR"
if [ -e "$DESTDIR$CONFDIR/divertd.conf" ]; then
    echo "  $CONFDIR/divertd.conf exists: kept as it is (the default is deploy/divertd.conf)"
else
    put_text 0640 deploy/divertd.conf "$CONFDIR/divertd.conf"
fi
if [ -e "$DESTDIR$CONFDIR/divert-web.conf" ]; then
    echo "  $CONFDIR/divert-web.conf exists: kept as it is (the default is deploy/divert-web.conf)"
else
    put_text 0640 deploy/divert-web.conf "$CONFDIR/divert-web.conf"
fi
[ -d "$DESTDIR$CONFDIR/web" ] || install -d -m 0700 "$DESTDIR$CONFDIR/web"

# A real installation as root: create the user, apply /etc/divert's modes.
if [ -z "$DESTDIR" ] && [ "$(id -u)" -eq 0 ]; then
    if command -v systemd-sysusers >/dev/null; then
        systemd-sysusers "$LIBDIR/sysusers.d/divert.conf" && echo "  user divert: present"
    fi
    if command -v systemd-tmpfiles >/dev/null; then
        systemd-tmpfiles --create "$LIBDIR/tmpfiles.d/divert.conf" || true
    fi
    if [ -d /run/systemd/system ]; then
        systemctl daemon-reload || true
    fi
fi
echo "installed. Next: README.md, \"Running in production\"; man divertd"
