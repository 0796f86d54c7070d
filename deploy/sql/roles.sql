-- Per-service roles for a deployed PostgreSQL (the same layout `ombudsman up` makes with
-- ombudsman.eventstore.roles.provision_roles). Run once as a superuser in database `ombudsman`,
-- passing the passwords as psql variables, e.g. from the compose init hook:
--   psql -v ON_ERROR_STOP=1 -v projects_pw=... -v metadata_pw=... -v executor_pw=... -v workload_pw=...
--        -v audit_pw=... -v audit_owner_pw=... -v gateway_pw=... -d ombudsman -f roles.sql
-- Afterwards each service connects as omb_<service>; schema audit belongs to omb_audit_owner (the
-- audit service's OMB_MIGRATION_DATABASE_URL) and omb_audit may only SELECT/INSERT audit.event_log
-- (audit migration 0003 revokes the rest once the tables exist).

REVOKE CREATE ON SCHEMA public FROM PUBLIC;
REVOKE CONNECT, TEMPORARY ON DATABASE ombudsman FROM PUBLIC;

CREATE ROLE omb_projects LOGIN NOSUPERUSER NOCREATEDB NOCREATEROLE PASSWORD :'projects_pw';
CREATE ROLE omb_metadata LOGIN NOSUPERUSER NOCREATEDB NOCREATEROLE PASSWORD :'metadata_pw';
CREATE ROLE omb_executor LOGIN NOSUPERUSER NOCREATEDB NOCREATEROLE PASSWORD :'executor_pw';
CREATE ROLE omb_workload LOGIN NOSUPERUSER NOCREATEDB NOCREATEROLE PASSWORD :'workload_pw';
CREATE ROLE omb_audit LOGIN NOSUPERUSER NOCREATEDB NOCREATEROLE PASSWORD :'audit_pw';
CREATE ROLE omb_audit_owner LOGIN NOSUPERUSER NOCREATEDB NOCREATEROLE PASSWORD :'audit_owner_pw';
CREATE ROLE omb_gateway LOGIN NOSUPERUSER NOCREATEDB NOCREATEROLE PASSWORD :'gateway_pw';

GRANT CONNECT ON DATABASE ombudsman
  TO omb_projects, omb_metadata, omb_executor, omb_workload, omb_audit, omb_audit_owner, omb_gateway;

CREATE SCHEMA projects AUTHORIZATION omb_projects;
CREATE SCHEMA metadata AUTHORIZATION omb_metadata;
CREATE SCHEMA executor AUTHORIZATION omb_executor;
CREATE SCHEMA workload AUTHORIZATION omb_workload;
CREATE SCHEMA audit AUTHORIZATION omb_audit_owner;
CREATE SCHEMA gateway AUTHORIZATION omb_gateway;
REVOKE ALL ON SCHEMA projects, metadata, executor, workload, audit, gateway FROM PUBLIC;

-- The audit runtime role: its projections' own tables, DML on the owner's tables (event_log and
-- archive_segments lose UPDATE/DELETE/TRUNCATE again in audit migration 0003).
GRANT USAGE, CREATE ON SCHEMA audit TO omb_audit;
ALTER DEFAULT PRIVILEGES FOR ROLE omb_audit_owner IN SCHEMA audit
  GRANT SELECT, INSERT, UPDATE, DELETE ON TABLES TO omb_audit;
ALTER DEFAULT PRIVILEGES FOR ROLE omb_audit_owner IN SCHEMA audit
  GRANT USAGE, SELECT ON SEQUENCES TO omb_audit;
