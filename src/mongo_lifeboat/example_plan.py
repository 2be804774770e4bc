"""The commented example that ``lifeboat plan init`` writes (every section, sane values)."""

EXAMPLE = """\
# Lifeboat recovery plan. `lifeboat check` audits it against reality; `lifeboat plan show`
# prints what is in effect. Durations: 90s, 5m, 6h, 14d. Schedules: cron (m h dom mon dow).
# ${VAR} is read from the environment: keep passwords and tokens out of this file.

[deployment]
name = "orders-prod"            # what people call it (events, reports, alerts)
source = "mongodb://backup:${LIFEBOAT_SOURCE_PASSWORD}@db1:27017,db2:27017/?replicaSet=rs0&authSource=admin"
member = "auto"                 # hidden > secondary > primary; or primary | secondary | HOST:PORT
timeout = "10s"

[owner]
name = "Payments SRE"
contact = "sre-payments@example.com"
# escalation = "${LIFEBOAT_ESCALATION_URL}"   # optional: a pager link (it may carry a key)

[objectives]
rpo = "5m"                      # data you may lose: the archiver must stay within it
rto = "30m"                     # time to restore: drills measure it

[[repository]]
name = "primary"
url = "file:///var/backups/lifeboat"
region = "eu-west-1"
keep_last = 7                   # retention, applied by lifeboat prune
keep_daily = 14
keep_weekly = 8
recovery_window = "7d"          # every second of the last 7 days stays restorable

# A copy in another region (cross-region check): backups and the archive go to every
# repository; one that is down is caught up when it returns.
# [[repository]]
# name = "dr"
# url = "s3://acme-backups-dr/orders"
# region = "us-east-1"
# object_lock_days = 30         # immutable for 30 days (the bucket needs Object Lock)
# kms_key_id = "alias/lifeboat" # encryption at rest, data key wrapped by AWS KMS

[schedule]
base_backup = "0 */6 * * *"
drill = "0 3 * * 1"

[alerts]
notify = ["${LIFEBOAT_NOTIFY_URL}"]  # Apprise URLs (slack://…, pagerduty://…, mailto://…): each holds a token
# prometheus_textfile = "/var/lib/node_exporter/textfile/lifeboat.prom"

[drill]
staging = "scratch"             # a scratch server; or a MongoDB URI (never the source)
max_age = "90d"
after_change = "15m"            # the agent drills once this long after the setup changed ("never": off)

[backup]
jobs = 4
chunk_mb = 64

[restore]
jobs = 4
"""
