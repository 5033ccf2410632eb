#!/bin/bash
# First start of the mysql container only (empty data volume): creates the `analytics`
# database and its two users. The mysql image runs (or sources) *.sh files found in
# /docker-entrypoint-initdb.d; everything runs in a subshell so that both ways behave alike.
#
#   analytics_migrator  all privileges on analytics.* (DDL): `analytics migrate upgrade`
#   analytics_consumer  SELECT, INSERT, UPDATE, DELETE on analytics.*: the service
#
# Passwords come from MYSQL_MIGRATOR_PASSWORD and MYSQL_CONSUMER_PASSWORD (docker-compose.yml
# has local development defaults that must be changed anywhere else). They are also part
# of the services' database URLs, so they are limited to letters, digits and . _ ~ -
# Changing them later takes ALTER USER (or a new volume): this script does not run again.
(
    set -euo pipefail

    for name in MYSQL_ROOT_PASSWORD MYSQL_MIGRATOR_PASSWORD MYSQL_CONSUMER_PASSWORD; do
        value="${!name:-}"
        if [[ ! "$value" =~ ^[A-Za-z0-9._~-]+$ ]]; then
            echo "01-users.sh: $name must be set to letters, digits and . _ ~ - only" >&2
            exit 1
        fi
    done

    # --defaults-extra-file must come first; it keeps the password off the command line.
    mysql --defaults-extra-file=<(printf '[client]\npassword="%s"\n' "$MYSQL_ROOT_PASSWORD") \
        --protocol=socket --socket="${SOCKET:-/var/run/mysqld/mysqld.sock}" -uroot <<SQL
CREATE DATABASE IF NOT EXISTS \`analytics\`
    CHARACTER SET utf8mb4 COLLATE utf8mb4_0900_ai_ci;

CREATE USER IF NOT EXISTS 'analytics_migrator'@'%' IDENTIFIED BY '${MYSQL_MIGRATOR_PASSWORD}';
GRANT ALL PRIVILEGES ON \`analytics\`.* TO 'analytics_migrator'@'%';

CREATE USER IF NOT EXISTS 'analytics_consumer'@'%' IDENTIFIED BY '${MYSQL_CONSUMER_PASSWORD}';
GRANT SELECT, INSERT, UPDATE, DELETE ON \`analytics\`.* TO 'analytics_consumer'@'%';
SQL
)
