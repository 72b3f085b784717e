#!/bin/sh
# Online backup of the gateway's store, with the audit chain's head exported
# next to it, run by caddy-ai-gateway-backup.timer (install this script as
# /usr/local/lib/caddy-ai-gateway/backup.sh). Restoring is offline:
#   caddy ai-gateway restore --from FILE --dir NEWDIR
# Copy the backups and, above all, the audit heads off this host: a head the
# gateway cannot rewrite is what catches a rewrite of the whole chain.
set -eu

caddy=${CADDY:-/usr/bin/caddy}
admin=${CADDY_ADMIN:-unix//run/caddy/admin.sock}
dir=${BACKUP_DIR:-/var/backups/caddy-ai-gateway}
keep_days=${KEEP_DAYS:-14}

umask 077
mkdir -p "$dir"
stamp=$(date -u +%Y%m%dT%H%M%SZ)

# The head first: the backup then holds every entry up to it.
"$caddy" ai-gateway audit head --address "$admin" --json >"$dir/audit-head-$stamp.json"
"$caddy" ai-gateway backup --address "$admin" --output "$dir/gateway-$stamp.backup"
# The chain must verify; a broken link makes the run (and the unit) fail.
"$caddy" ai-gateway audit verify --address "$admin" >/dev/null

find "$dir" -name 'gateway-*.backup' -mtime +"$keep_days" -delete
