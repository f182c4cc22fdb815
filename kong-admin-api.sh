#!/usr/bin/env bash
# The services of kong.yml for a Kong with a database (DB mode), through the
# Admin API: the same services, routes, plugins and consumers. Every call is
# an idempotent PUT (entities by name, plugins by a fixed id under their
# service, API keys by key), so running it again updates, never duplicates.
#
#   KONG_ADMIN_URL=http://localhost:8001 AGGREGATOR_URL=http://aggregator:9457 ./kong-admin-api.sh
#
# decK users: `deck gateway sync kong.yml` applies kong.yml itself (decK
# reads the declarative format); note that sync deletes what the file lacks.
# The tokens stay vault references, resolved by Kong from its own
# environment (SIEM_INGEST_TOKEN, SIEM_HASH_KEY, SIEM_INGEST_AUTHORIZATION),
# so no secret is stored in the database.
set -euo pipefail

ADMIN=${KONG_ADMIN_URL:-http://localhost:8001}
AGG=${AGGREGATOR_URL:-http://aggregator:9457}
UPSTREAM=${UPSTREAM_URL:-http://echo:80}

put() { # put PATH JSON: one idempotent Admin API call, failing loudly
  curl -fsS -X PUT "$ADMIN$1" -H 'content-type: application/json' --data "$2" >/dev/null
  echo "PUT $1"
}

# orders: key-auth, and siem with tuned fields
put /services/orders "{\"url\": \"$UPSTREAM/orders\"}"
put /services/orders/routes/orders-v1 '{"paths": ["/orders"]}'
put /services/orders/plugins/5b1c6a52-0d6c-4e0e-9a58-6f1f3f0d0a01 '{"name": "key-auth",
  "config": {"key_names": ["apikey"], "hide_credentials": true}}'
put /services/orders/plugins/5b1c6a52-0d6c-4e0e-9a58-6f1f3f0d0a02 "{\"name\": \"siem\",
  \"config\": {
    \"aggregator_url\": \"$AGG\",
    \"ingest_token\": \"{vault://env/siem-ingest-token}\",
    \"hash_key\": \"{vault://env/siem-hash-key}\",
    \"credential_source\": \"credential\",
    \"batch_max_size\": 500,
    \"flush_interval_ms\": 500,
    \"queue_max_records\": 50000,
    \"timeout_ms\": 3000,
    \"window_seconds\": 60,
    \"top_n\": 20,
    \"error_min\": 10,
    \"error_ratio\": 0.4,
    \"credential_min_ips\": 2,
    \"credential_window_seconds\": 600,
    \"spike_min_successes\": 5,
    \"spike_min_failures\": 5,
    \"spike_failure_ratio\": 0.7}}"

# catalog: open, siem with the defaults
put /services/catalog "{\"url\": \"$UPSTREAM/catalog\"}"
put /services/catalog/routes/catalog-v1 '{"paths": ["/catalog"]}'
put /services/catalog/plugins/5b1c6a52-0d6c-4e0e-9a58-6f1f3f0d0a03 "{\"name\": \"siem\",
  \"config\": {\"aggregator_url\": \"$AGG\", \"ingest_token\": \"{vault://env/siem-ingest-token}\"}}"

# legacy: Kong's bundled http-log instead of the plugin server
put /services/legacy "{\"url\": \"$UPSTREAM/legacy\"}"
put /services/legacy/routes/legacy-v1 '{"paths": ["/legacy"]}'
put /services/legacy/plugins/5b1c6a52-0d6c-4e0e-9a58-6f1f3f0d0a04 '{"name": "key-auth",
  "config": {"key_names": ["apikey"]}}'
put /services/legacy/plugins/5b1c6a52-0d6c-4e0e-9a58-6f1f3f0d0a05 "{\"name\": \"http-log\",
  \"config\": {
    \"http_endpoint\": \"$AGG/v1/kong-log\",
    \"method\": \"POST\",
    \"content_type\": \"application/json\",
    \"timeout\": 3000,
    \"keepalive\": 60000,
    \"headers\": {\"X-Siem-Credential-Source\": \"credential\",
                  \"Authorization\": \"{vault://env/siem-ingest-authorization}\"},
    \"queue\": {\"max_batch_size\": 200, \"max_coalescing_delay\": 1}}}"

# demo consumers and their API keys
put /consumers/acme '{}'
put /consumers/acme/key-auth/acme-demo-key '{}'
put /consumers/globex '{}'
put /consumers/globex/key-auth/globex-demo-key '{}'
