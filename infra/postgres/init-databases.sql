-- One database per service that owns Postgres data (the native runner creates the same list:
-- devstack.servers.SERVICE_DATABASES; the contract tests compare them).
CREATE DATABASE dispatch;
CREATE DATABASE chat;
CREATE DATABASE payments;
CREATE DATABASE edge;
