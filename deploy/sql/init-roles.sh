#!/bin/sh
# postgres image init hook: the per-service roles of deploy/sql/roles.sql, passwords from the environment.
set -eu
psql -v ON_ERROR_STOP=1 -U "$POSTGRES_USER" -d "$POSTGRES_DB" \
  -v projects_pw="$OMB_PG_PROJECTS_PW" -v metadata_pw="$OMB_PG_METADATA_PW" -v executor_pw="$OMB_PG_EXECUTOR_PW" \
  -v workload_pw="$OMB_PG_WORKLOAD_PW" -v audit_pw="$OMB_PG_AUDIT_PW" -v audit_owner_pw="$OMB_PG_AUDIT_OWNER_PW" \
  -v gateway_pw="$OMB_PG_GATEWAY_PW" -f /roles.sql
