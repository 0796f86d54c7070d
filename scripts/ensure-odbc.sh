#!/usr/bin/env bash
# Installs unixODBC, the PostgreSQL ODBC driver (psqlODBC) and FreeTDS (an ODBC driver for SQL Server)
# when missing: the SQL Server connector's pyodbc code path is tested against PostgreSQL through
# psqlODBC, and FreeTDS lets it reach a real SQL Server. Needs root (or passwordless sudo);
# without it, prints what is missing and carries on (those tests then say why they cannot run).
set -u
if odbcinst -q -d 2>/dev/null | grep -qi postgres && odbcinst -q -d 2>/dev/null | grep -qi freetds; then exit 0; fi
SUDO=""
if [ "$(id -u)" != "0" ]; then
  if command -v sudo >/dev/null 2>&1 && sudo -n true 2>/dev/null; then SUDO="sudo -n"; else
    echo "ensure-odbc: not root; install unixodbc, odbc-postgresql and tdsodbc to test the ODBC path" >&2; exit 0
  fi
fi
if command -v apt-get >/dev/null 2>&1; then
  export DEBIAN_FRONTEND=noninteractive
  $SUDO apt-get update -qq >/dev/null 2>&1 || true
  $SUDO apt-get install -y -qq unixodbc odbc-postgresql tdsodbc >/dev/null 2>&1 \
    || echo "ensure-odbc: apt-get install unixodbc odbc-postgresql tdsodbc failed" >&2
else
  echo "ensure-odbc: no apt-get; install unixODBC and the PostgreSQL ODBC driver by hand" >&2
fi
exit 0
