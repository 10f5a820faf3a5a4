#!/bin/bash
# Runs once, on the first start of the influxdb:2 container (DOCKER_INFLUXDB_INIT_MODE=setup),
# after the organisation, bucket and admin token exist; later starts skip it.
#
# Lorakeet writes through the v2 API into the bucket, but reads with InfluxQL on /query, and
# so does Grafana's InfluxQL datasource. InfluxQL names a database and retention policy, so
# map INFLUXQL_DATABASE / autogen onto the bucket (a DBRP mapping).
set -euo pipefail

db="${INFLUXQL_DATABASE:-${DOCKER_INFLUXDB_INIT_BUCKET}}"

influx v1 dbrp create \
  --org "${DOCKER_INFLUXDB_INIT_ORG}" \
  --bucket-id "${DOCKER_INFLUXDB_INIT_BUCKET_ID}" \
  --db "${db}" \
  --rp autogen \
  --default

echo "lorakeet: InfluxQL database '${db}' (rp autogen) -> bucket '${DOCKER_INFLUXDB_INIT_BUCKET}'"
