#!/usr/bin/env bash
# smoke.sh - end-to-end smoke test of the assay server against the seed API documents.
#
# Builds nothing. It starts an already-built server on a free port (127.0.0.1:0) with a throw-away
# data directory and a config that sets all three API tokens (usage, service, license), then runs
# every curl example of the usage API and service API seeds, adapted to http://127.0.0.1:PORT and the
# configured tokens, and checks each answer: HTTP status and the important body fields. It also checks
# 401/403/404/405 answers, the pending-or-done task GET, custom_data round trip, the integrity check
# of custom_data, the license life cycle, pause/unpause, and a clean exit on SIGTERM.
#
# Usage (from anywhere):
#   scripts/smoke.sh
# Environment:
#   ASSAY_BIN=/path/to/assay  binary to test (default: <repo>/target/release/assay if it exists,
#                             else <repo>/target/debug/assay)
#   SMOKE_KEEP_GOING=1        debugging aid: do not stop at the first mismatch, run every check
#                             and report them all (the exit status is still 1 if any failed)
# Output: one "ok - ..." line per check. At the first mismatch: "not ok - ...", what was expected and
# what came back, and exit 1. The last line is "N passed, M failed" (CI parses it).
# Needs: bash, curl, python3 (for the JSON checks).
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
if [[ -n ${ASSAY_BIN:-} ]]; then
    BIN=$ASSAY_BIN
elif [[ -x $ROOT/target/release/assay ]]; then
    BIN=$ROOT/target/release/assay
else
    BIN=$ROOT/target/debug/assay
fi
if [[ ! -x $BIN ]]; then
    echo "smoke: no server binary at $BIN (build it first, or set ASSAY_BIN)" >&2
    exit 2
fi
BIN=$(cd "$(dirname "$BIN")" && pwd)/$(basename "$BIN") # absolute: we cd into the temp dir below
for tool in curl python3; do
    command -v "$tool" >/dev/null || { echo "smoke: $tool is required" >&2; exit 2; }
done
# The interpreter itself, not a wrapper such as a pyenv shim: it runs once per check.
PYTHON=$(python3 -c 'import sys; print(sys.executable)')

# 40 alphanumerics each (the server accepts 30-60); one token per endpoint group.
USAGE_TOKEN=exampletokenUsage01234567890123456789012
SERVICE_TOKEN=exampletokenService012345678901234567890
LICENSE_TOKEN=exampletokenLicense012345678901234567890
EICAR_SHA1=3395856ce81f2b7382dee72602f798b642f14140

TMP=$(mktemp -d "${TMPDIR:-/tmp}/assay-smoke.XXXXXX")
SERVER_PID=
cleanup() {
    cd /
    if [[ -n $SERVER_PID ]] && kill -0 "$SERVER_PID" 2>/dev/null; then
        kill -TERM "$SERVER_PID" 2>/dev/null || true
        for _ in $(seq 50); do kill -0 "$SERVER_PID" 2>/dev/null || break; sleep 0.2; done
        kill -KILL "$SERVER_PID" 2>/dev/null || true
        wait "$SERVER_PID" 2>/dev/null || true
    fi
    rm -rf "$TMP"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# ---------------------------------------------------------------------------------------------
# Check helpers
# ---------------------------------------------------------------------------------------------
PASSED=0
FAILED=0

ok() {
    PASSED=$((PASSED + 1))
    echo "ok - $1"
}

# fail DESCRIPTION EXPECTED GOT [DETAIL]
fail() {
    FAILED=$((FAILED + 1))
    echo "not ok - $1"
    echo "    expected: $2"
    echo "    got:      $3"
    if [[ -n ${4:-} ]]; then
        # shellcheck disable=SC2001 # a prefix on every line of a multi-line text
        sed 's/^/    detail:   /' <<<"$4"
    fi
    if [[ -s $TMP/server.log ]]; then
        echo "    (last server log lines:)"
        tail -n 5 "$TMP/server.log" | sed 's/^/      /'
    fi
    if [[ ${SMOKE_KEEP_GOING:-} != 1 ]]; then
        echo "$PASSED passed, $FAILED failed"
        exit 1
    fi
}

# The JSON checker: evaluates a Python expression over the last answer. Names available:
#   status (int), body (str), d (parsed JSON, or None if the body is empty or not JSON),
#   headers (dict, lower-case names), E (os.environ), base (http://127.0.0.1:PORT),
#   hashes(entry) -> {name: value} of a tc_report entry, is_int(x), keys(x) -> set of keys.
# "check" mode exits 0/1 and prints why on failure (and the value of the expression in $SHOW, if
# given, to show the relevant part of a long answer); "get" mode prints the value (or a
# "<unavailable: ...>" placeholder).
cat >"$TMP/jcheck.py" <<'PY'
import json, os, sys

mode, expr = sys.argv[1], sys.argv[2]
E = os.environ
body = open(E["SMOKE_BODY_FILE"], encoding="utf-8", errors="replace").read()
try:
    d = json.loads(body) if body.strip() else None
except ValueError:
    d = None
headers = {}
for line in open(E["SMOKE_HEADER_FILE"], encoding="latin-1"):
    if ":" in line:
        name, value = line.split(":", 1)
        headers[name.strip().lower()] = value.strip()
status = int(E["SMOKE_STATUS"])
base = E["SMOKE_BASE"]

def hashes(entry):
    return {h["name"]: h["value"] for h in entry["info"]["file"]["hashes"]}

def is_int(x):
    return isinstance(x, int) and not isinstance(x, bool)

def keys(x):
    return set(x.keys())

def show():
    if E.get("SHOW"):
        try:
            print(f"{E['SHOW']} = {json.dumps(eval(E['SHOW']))}")
        except Exception as e:
            print(f"{E['SHOW']}: {type(e).__name__}: {e}")

try:
    value = eval(expr)
except Exception as e:  # a missing key or a wrong type is a failed check, with the reason
    if mode == "get":  # a placeholder value, so that a keep-going run can go on
        print(f"<unavailable: {type(e).__name__}: {e}>")
        sys.exit(0)
    print(f"{type(e).__name__}: {e}")
    show()
    sys.exit(1)
if mode == "get":
    print(value if isinstance(value, str) else json.dumps(value))
    sys.exit(0)
if not value:
    show()
sys.exit(0 if value else 1)
PY

# call curl ARGS...: runs the curl command line as written (the seed's example) and records the
# answer: STATUS, the body in $TMP/body, the headers in $TMP/headers.
call() {
    shift # the word "curl", kept at the call sites so they read like the seeds' examples
    STATUS=$(curl -sS -o "$TMP/body" -D "$TMP/headers" -w '%{http_code}' "$@") || STATUS=000
}

snippet() {
    local s
    s=$(head -c 600 "$TMP/body" | tr '\n' ' ')
    echo "HTTP $STATUS, body: ${s:-<empty>}"
}

# expect STATUS PYTHON-EXPR DESCRIPTION [NAME=VALUE...]: one check on the last answer; the
# NAME=VALUE pairs are visible to the expression as E["NAME"] (SHOW=EXPR: see jcheck.py).
expect() {
    local want=$1 expr=$2 desc=$3 why=
    shift 3
    if [[ $STATUS != "$want" ]]; then
        fail "$desc" "HTTP $want and $expr" "$(snippet)"
        return
    fi
    if why=$(env SMOKE_STATUS="$STATUS" SMOKE_BODY_FILE="$TMP/body" SMOKE_HEADER_FILE="$TMP/headers" \
        SMOKE_BASE="$BASE" "$@" "$PYTHON" "$TMP/jcheck.py" check "$expr"); then
        ok "$desc"
    else
        fail "$desc" "HTTP $want and $expr" "$(snippet)" "$why"
    fi
}

# jget PYTHON-EXPR: prints a value taken from the last answer (same names as expect).
jget() {
    SMOKE_STATUS=$STATUS SMOKE_BODY_FILE=$TMP/body SMOKE_HEADER_FILE=$TMP/headers \
        SMOKE_BASE=$BASE "$PYTHON" "$TMP/jcheck.py" get "$1"
}

# An error answer: {"message": "..."} with a non-empty message.
ERR='isinstance(d, dict) and isinstance(d.get("message"), str) and d["message"] != ""'

# wait_processed ID DESCRIPTION: GETs the task until it is processed (at most 30 s). Every answer
# on the way must be 200; while pending, processed and tc_report must both be null. Counts as one
# check; leaves the final (processed) answer as the last answer.
wait_processed() {
    local id=$1 desc=$2 pending=0 state
    for _ in $(seq 150); do
        call curl "$BASE/api/tiscale/v1/task/$id" -H "$UA"
        if [[ $STATUS != 200 ]]; then
            fail "$desc" "HTTP 200 for a pending or finished task" "$(snippet)"
            return
        fi
        state=$(jget '"done" if d.get("processed") else ("pending" if "processed" in d and d["processed"] is None and d.get("tc_report", "missing") is None else "bad")')
        case $state in
            done)
                expect 200 'is_int(d["processed"]) and d["processed"] > 0 and isinstance(d["tc_report"], list) and len(d["tc_report"]) >= 1' \
                    "$desc (pending in $pending answer(s) before)"
                return ;;
            pending) pending=$((pending + 1)); sleep 0.2 ;;
            *)
                fail "$desc" 'while pending: "processed": null and "tc_report": null; once done: processed set' "$(snippet)"
                return ;;
        esac
    done
    fail "$desc" "processed non-null within 30 s" "$(snippet)"
}

# task_id_of_answer: the id at the end of the last answer's task_url.
task_id_of_answer() { jget 'd["task_url"].rsplit("/", 1)[1]'; }

# list_ids: the sorted task ids the list endpoint answers (as "1 2 3").
list_ids() {
    call curl "$BASE/api/tiscale/v1/task" -H "$UA"
    jget '" ".join(str(i) for i in sorted(t["task_id"] for t in d))'
}

# ---------------------------------------------------------------------------------------------
# Start the server
# ---------------------------------------------------------------------------------------------
# Work inside the temp dir so the sample files can be named as in the seeds (-F file=@name).
cd "$TMP"
mkdir -p "$TMP/data"
cat >"$TMP/assay.toml" <<EOF
# written by scripts/smoke.sh
[tokens]
usage = "$USAGE_TOKEN"
service = "$SERVICE_TOKEN"
license = "$LICENSE_TOKEN"
EOF

"$BIN" serve --config "$TMP/assay.toml" --listen 127.0.0.1:0 --data-dir "$TMP/data" \
    >"$TMP/server.log" 2>&1 &
SERVER_PID=$!

PORT=
for _ in $(seq 300); do
    PORT=$(sed -n 's|.*listening on http://127\.0\.0\.1:\([0-9][0-9]*\).*|\1|p' "$TMP/server.log" | head -n 1)
    [[ -n $PORT ]] && break
    if ! kill -0 "$SERVER_PID" 2>/dev/null; then
        echo "smoke: the server exited before listening; its log:" >&2
        cat "$TMP/server.log" >&2
        exit 1
    fi
    sleep 0.1
done
if [[ -z $PORT ]]; then
    echo "smoke: no 'listening on http://127.0.0.1:PORT' line within 30 s; server log:" >&2
    cat "$TMP/server.log" >&2
    exit 1
fi
BASE=http://127.0.0.1:$PORT
UA="Authorization: Token $USAGE_TOKEN"
SA="Authorization: Token $SERVICE_TOKEN"
LA="Authorization: Token $LICENSE_TOKEN"
echo "# $BIN listening on $BASE (data in $TMP/data)"

# The sample: the EICAR test file (printf '%s' so that '$' and '\' are written as they are).
# shellcheck disable=SC2016 # the '$' are part of the test string
printf '%s' 'X5O!P%@AP[4\PZX54(P^)7CC)7}$EICAR-STANDARD-ANTIVIRUS-TEST-FILE!$H+H*' >eicar.com
if [[ $("$PYTHON" -c 'import hashlib; print(hashlib.sha1(open("eicar.com", "rb").read()).hexdigest())') != "$EICAR_SHA1" ]]; then
    echo "smoke: the EICAR sample was not written correctly" >&2
    exit 1
fi
export EICAR_SHA1

# ---------------------------------------------------------------------------------------------
# Authorization (usage seed "Worker API Authorization", service seed "Service API Authorization")
# ---------------------------------------------------------------------------------------------
echo "# authorization"
# The seed's example request; there is no task 42 yet, so this is also the unknown-task 404.
call curl "$BASE/api/tiscale/v1/task/42" -H "Authorization: Token $USAGE_TOKEN"
expect 404 "$ERR" "GET /api/tiscale/v1/task/42 with the usage token: 404 for an unknown task"
call curl "$BASE/api/tiscale/v1/task/42"
expect 401 "$ERR" "usage API without a token: 401"
call curl "$BASE/api/tiscale/v1/task/42" -H 'Authorization: Token wrongtoken0123456789012345678901234'
expect 403 "$ERR" "usage API with a wrong token: 403"
call curl "$BASE/api/tiscale/v1/task/42" -H "$SA"
expect 403 "$ERR" "usage API with the service token: 403 (tokens are per endpoint group)"
call curl "$BASE/srv/tiscale/v1/sysinfo"
expect 401 "$ERR" "service API without a token: 401"
call curl "$BASE/srv/tiscale/v1/sysinfo" -H "$UA"
expect 403 "$ERR" "service API with the usage token: 403"
call curl "$BASE/api/license/v1/"
expect 401 "$ERR" "license API without a token: 401"
call curl "$BASE/api/license/v1/" -H 'Authorization: Token wrongtoken0123456789012345678901234'
expect 403 "$ERR" "license API with a wrong token: 403"

# ---------------------------------------------------------------------------------------------
# Upload a file for processing
# ---------------------------------------------------------------------------------------------
echo "# upload"
# task_url: absolute, this server's address, no query string (DECISIONS 1).
TASK_URL_OK='d["task_url"].startswith(base + "/api/tiscale/v1/task/") and d["task_url"][len(base + "/api/tiscale/v1/task/"):].isdigit()'

call curl -X POST "$BASE/api/tiscale/v1/upload" -H "Authorization: Token $USAGE_TOKEN" -F file=@eicar.com
expect 200 "$TASK_URL_OK" "POST /upload -F file=@eicar.com: 200 with an absolute task_url"
T_PLAIN=$(task_id_of_answer)

wait_processed "$T_PLAIN" "GET /task/$T_PLAIN until processed: 200 throughout, processed and tc_report null while pending"
expect 200 'hashes(d["tc_report"][0])["sha1"] == E["EICAR_SHA1"] and {"md5", "sha1", "sha256"} <= keys(hashes(d["tc_report"][0]))' \
    "task $T_PLAIN: tc_report[0].info.file.hashes has md5, sha256 and the EICAR sha1"
expect 200 'd["task_id"] == int(E["T"]) and is_int(d["submitted"]) and d["submitted"] <= d["processed"] and isinstance(d["worker_ip"], list) and isinstance(d["worker_hostname"], str) and "custom_data" not in d' \
    "task $T_PLAIN: task_id, submitted <= processed, worker fields; no custom_data when none was sent" \
    T="$T_PLAIN"
expect 200 'd["tc_report"][0]["info"]["file"]["size"] == 68 and d["tc_report"][0]["info"]["file"]["file_name"] == "eicar.com"' \
    "task $T_PLAIN: file_name eicar.com, size 68"
# Every report carries a classification with at least one scan result. (Verdicts from built-in
# signatures such as EICAR arrive with the engine's verdict issue; this check tightens then.)
expect 200 'd["tc_report"][0]["classification"]["classification"] in (0, 1, 2, 3) and len(d["tc_report"][0]["classification"]["scan_results"]) >= 1' \
    "task $T_PLAIN: a classification with at least one scan result" \
    SHOW='d["tc_report"][0]["classification"]'

# A 32 MiB file takes a moment to analyse, so its task is usually seen pending (not required: a
# fast machine may finish first).
head -c 33554432 /dev/urandom >big.bin
export BIG_SHA1
BIG_SHA1=$("$PYTHON" -c 'import hashlib; print(hashlib.sha1(open("big.bin", "rb").read()).hexdigest())')
call curl -X POST "$BASE/api/tiscale/v1/upload" -H "Authorization: Token $USAGE_TOKEN" -F file=@big.bin
expect 200 "$TASK_URL_OK" "POST /upload -F file=@big.bin (32 MiB): 200 with an absolute task_url"
T_BIG=$(task_id_of_answer)
wait_processed "$T_BIG" "GET /task/$T_BIG until processed: 200 throughout, processed and tc_report null while pending"
expect 200 'hashes(d["tc_report"][0])["sha1"] == E["BIG_SHA1"] and d["tc_report"][0]["info"]["file"]["size"] == 33554432' \
    "task $T_BIG: the report has the 32 MiB file's sha1 and size"

# The seed's user_data example. The callback url is changed from the seed's https://example.com:8080
# to a closed local port so the test never talks to the outside world.
CALLBACK_URL="http://127.0.0.1:9/assay-smoke-callback"
call curl -X POST \
   "$BASE/api/tiscale/v1/upload" \
   -H "Authorization: Token $USAGE_TOKEN" \
   -F file=@eicar.com \
   -F 'user_data={
            "callback" : {
               "view" : "flat",
               "report_type" : "large",
               "url": "'"$CALLBACK_URL"'"
            }}'
expect 200 "$TASK_URL_OK" "POST /upload with the seed's user_data callback example: 200"
T_USER=$(task_id_of_answer)
wait_processed "$T_USER" "GET /task/$T_USER (user_data upload): processed"
expect 200 '"user_data" not in d and E["CALLBACK_URL"] not in body and "custom_data" not in d' \
    "task $T_USER: user_data is never echoed in the task answer" CALLBACK_URL="$CALLBACK_URL"

# The seed's custom_data example.
call curl -X POST \
   "$BASE/api/tiscale/v1/upload" \
   -H "Authorization: Token $USAGE_TOKEN" \
   -F file=@eicar.com \
   -F 'custom_data={
            "file_source" : {
               "uploader" : "malware_analyst",
               "origin" : "china"
            }}'
expect 200 "$TASK_URL_OK" "POST /upload with the seed's custom_data example: 200"
T_CUSTOM=$(task_id_of_answer)
wait_processed "$T_CUSTOM" "GET /task/$T_CUSTOM (custom_data upload): processed"
expect 200 'd["custom_data"] == {"file_source": {"uploader": "malware_analyst", "origin": "china"}}' \
    "task $T_CUSTOM: custom_data returned unchanged once processed"

# The seed's X-TiScale-Token example.
call curl -X POST \
   "$BASE/api/tiscale/v1/upload" \
   -H "Authorization: Token $USAGE_TOKEN" \
   -H 'X-TiScale-Token: Token custom' \
   -F file=@eicar.com
expect 200 "$TASK_URL_OK" "POST /upload with the seed's X-TiScale-Token: Token custom example: 200"
T_TOKEN=$(task_id_of_answer)
wait_processed "$T_TOKEN" "GET /task/$T_TOKEN (X-TiScale-Token upload): processed"

# custom_data.integrity_check_hash: a mismatch refuses the upload with the seed's message.
BEFORE=$(list_ids)
WRONG=0000000000000000000000000000000000000000
call curl -X POST "$BASE/api/tiscale/v1/upload" -H "$UA" -F file=@eicar.com \
    -F "custom_data={\"integrity_check_hash\": \"$WRONG\"}"
expect 400 "$ERR and \"integrity check failed\" in d[\"message\"] and d[\"message\"] == \"ERROR: Upload: failed to accept upload integrity check failed, calculated hash $EICAR_SHA1 differs from the one passed in custom data $WRONG.\"" \
    "POST /upload with a wrong integrity_check_hash: 400 with the seed's 'integrity check failed' message"
AFTER=$(list_ids)
if [[ $AFTER == "$BEFORE" ]]; then
    ok "the refused upload queued nothing (task list unchanged: $AFTER)"
else
    fail "the refused upload queued nothing" "task ids $BEFORE" "task ids $AFTER"
fi
call curl -X POST "$BASE/api/tiscale/v1/upload" -H "$UA" -F file=@eicar.com \
    -F "custom_data={\"integrity_check_hash\": \"$EICAR_SHA1\"}"
expect 200 "$TASK_URL_OK" "POST /upload with the right integrity_check_hash: 200"
T_INTEGRITY=$(task_id_of_answer)
wait_processed "$T_INTEGRITY" "GET /task/$T_INTEGRITY (integrity-checked upload): processed"
expect 200 'd["custom_data"] == {"integrity_check_hash": E["EICAR_SHA1"]}' \
    "task $T_INTEGRITY: custom_data with the integrity hash returned unchanged"

call curl -X POST "$BASE/api/tiscale/v1/upload" -H "$UA" -F file=@eicar.com -F 'custom_data={not json'
expect 200 "$TASK_URL_OK" "POST /upload with invalid custom_data JSON: still accepted"
T_BADJSON=$(task_id_of_answer)
wait_processed "$T_BADJSON" "GET /task/$T_BADJSON (invalid custom_data): processed"
expect 200 '"custom_data" not in d' "task $T_BADJSON: invalid custom_data is dropped from the answer"

call curl -X POST "$BASE/api/tiscale/v1/upload" -H "$UA" -F 'custom_data={"a": 1}'
expect 400 "$ERR" "POST /upload without a file part: 400"

# ---------------------------------------------------------------------------------------------
# List processing tasks
# ---------------------------------------------------------------------------------------------
echo "# list"
export ALL_IDS="$T_PLAIN $T_BIG $T_USER $T_CUSTOM $T_TOKEN $T_INTEGRITY $T_BADJSON"
call curl "$BASE/api/tiscale/v1/task" -H "$UA"
expect 200 'sorted(t["task_id"] for t in d) == sorted(int(i) for i in E["ALL_IDS"].split()) and all({"task_id", "submitted", "processed"} <= keys(t) and "tc_report" not in t and is_int(t["processed"]) for t in d)' \
    "GET /task: every accepted task listed with task_id, submitted, processed and no tc_report"

# The seed's example: tasks uploaded with X-TiScale-Token: Token custom.
call curl -X GET \
   "$BASE/api/tiscale/v1/task?token=custom" \
   -H "Authorization: Token $USAGE_TOKEN"
expect 200 '[t["task_id"] for t in d] == [int(E["T"])]' \
    "GET /task?token=custom: only task $T_TOKEN" T="$T_TOKEN"
call curl "$BASE/api/tiscale/v1/task?token=Token+custom" -H "$UA"
expect 200 '[t["task_id"] for t in d] == [int(E["T"])]' \
    "GET /task?token=Token+custom: only task $T_TOKEN (optional 'Token ' prefix)" T="$T_TOKEN"
call curl "$BASE/api/tiscale/v1/task?token=other" -H "$UA"
expect 200 'd == []' "GET /task?token=other: empty list"

# The seed's example: tasks older than 500 seconds (ours are seconds old).
call curl -X GET \
   "$BASE/api/tiscale/v1/task?age=500" \
   -H "Authorization: Token $USAGE_TOKEN"
expect 200 'd == []' "GET /task?age=500: empty list (every task is younger than 500 s)"

# ---------------------------------------------------------------------------------------------
# Get information about a processing task
# ---------------------------------------------------------------------------------------------
echo "# get task"
# The seed's example (report_type=large&view=flat).
call curl "$BASE/api/tiscale/v1/task/$T_PLAIN?report_type=large&view=flat" -H "Authorization: Token $USAGE_TOKEN"
expect 200 'd["task_id"] == int(E["T"]) and d["processed"] and isinstance(d["tc_report"], list) and d["tc_report"][0]["info.file.file_name"] == "eicar.com" and "metadata.yara.ruleset_id" in d["tc_report"][0]' \
    "GET /task/$T_PLAIN?report_type=large&view=flat: 200 with the whole report, flattened" T="$T_PLAIN"
call curl "$BASE/api/tiscale/v1/task/$T_PLAIN" -H "$UA"
expect 200 'd["processed"] and hashes(d["tc_report"][0])["sha1"] == E["EICAR_SHA1"] and keys(d["tc_report"][0]) == {"info", "classification", "indicators", "interesting_strings", "story", "tags"}' \
    "GET /task/$T_PLAIN (no parameters): 200 with the summary (medium) report"
call curl "$BASE/api/tiscale/v1/task/$T_PLAIN?report_type=small" -H "$UA"
expect 200 'keys(d["tc_report"][0]) == {"info", "classification"} and sorted(hashes(d["tc_report"][0])) == ["md5", "sha1", "sha256"]' \
    "GET /task/$T_PLAIN?report_type=small: info.file with three hashes, and classification"
call curl "$BASE/api/tiscale/v1/task/$T_PLAIN?full=maybe" -H "$UA"
expect 400 "$ERR" "GET /task/$T_PLAIN?full=maybe: 400"
call curl "$BASE/api/tiscale/v1/task/$T_PLAIN?report_type=huge" -H "$UA"
expect 400 "$ERR and \"small, medium, large\" in d[\"message\"]" "GET /task/$T_PLAIN?report_type=huge: 400 naming the report types"
call curl "$BASE/api/tiscale/v1/task/$T_PLAIN?full=true&v13=true" -H "$UA"
expect 200 'd["processed"] and hashes(d["tc_report"][0])["sha1"] == E["EICAR_SHA1"] and "metadata" in d["tc_report"][0] and all(isinstance(r["type"], int) for r in d["tc_report"][0]["classification"]["scan_results"])' \
    "GET /task/$T_PLAIN?full=true&v13=true: 200 with the full report, scan result types as numbers"
call curl "$BASE/api/tiscale/v1/task/999999" -H "$UA"
expect 404 "$ERR" "GET /task/999999: 404"
call curl -X POST "$BASE/api/tiscale/v1/task/$T_PLAIN" -H "$UA"
expect 405 "$ERR and \"GET\" in headers.get(\"allow\", \"\")" "POST /task/$T_PLAIN: 405 with an Allow header"
call curl -X GET "$BASE/api/tiscale/v1/upload" -H "$UA"
expect 405 "$ERR" "GET /upload: 405"

# ---------------------------------------------------------------------------------------------
# YARA
# ---------------------------------------------------------------------------------------------
echo "# yara"
call curl -X GET \
   "$BASE/api/tiscale/v1/yara" \
   -H "Authorization: Token $USAGE_TOKEN"
expect 200 '__import__("re").fullmatch("[0-9a-f]{40}", d["id"]) is not None' "GET /yara: a 40-hex id"
call curl -X GET \
   "$BASE/api/tiscale/v2/sync-status" \
   -H "Authorization: Token $USAGE_TOKEN"
expect 200 'is_int(d["revision"]) and isinstance(d["rulesets"], list) and all({"revision", "key", "hash", "errors"} <= keys(r) for r in d["rulesets"])' \
    "GET /v2/sync-status: revision and rulesets"
call curl "$BASE/api/tiscale/v2/sync-status?errorOnly=true" -H "$UA"
expect 200 'is_int(d["revision"]) and all(r["errors"] for r in d["rulesets"])' \
    "GET /v2/sync-status?errorOnly=true: only rulesets with errors"
call curl -X POST \
   "$BASE/api/tiscale/v1/pull/all" \
   -H "Authorization: Token $USAGE_TOKEN"
# The seed: 200 when sent, 417 when YARA synchronization is disabled ([yara] sync = false).
if [[ $STATUS == 200 ]]; then
    expect 200 'True' "POST /v1/pull/all: 200"
else
    expect 417 "$ERR" "POST /v1/pull/all: 417 (YARA synchronization disabled)"
fi

# ---------------------------------------------------------------------------------------------
# Quotas (no Spectra Intelligence account here)
# ---------------------------------------------------------------------------------------------
echo "# quota"
call curl -X GET "$BASE/api/tiscale/v1/quota" \
      -H "Authorization: Token $USAGE_TOKEN"
expect 503 'd == {"message": "TiCloud is not configured."}' "GET /quota: 503 TiCloud is not configured."
call curl -X GET "$BASE/api/tiscale/v1/quota/company" \
      -H "Authorization: Token $USAGE_TOKEN"
expect 503 'd == {"message": "TiCloud is not configured."}' "GET /quota/company: 503 TiCloud is not configured."

# ---------------------------------------------------------------------------------------------
# Delete processing tasks
# ---------------------------------------------------------------------------------------------
echo "# delete"
# The seed's example id 999 does not exist here.
call curl -X DELETE \
   "$BASE/api/tiscale/v1/task/999" \
   -H "Authorization: Token $USAGE_TOKEN"
expect 404 "$ERR" "DELETE /task/999 (unknown): 404"
call curl -X DELETE \
   "$BASE/api/tiscale/v1/task/$T_PLAIN" \
   -H "Authorization: Token $USAGE_TOKEN"
expect 200 'body == ""' "DELETE /task/$T_PLAIN: 200 with an empty body"
call curl "$BASE/api/tiscale/v1/task/$T_PLAIN" -H "$UA"
expect 404 "$ERR" "GET /task/$T_PLAIN after its deletion: 404"
call curl -X DELETE "$BASE/api/tiscale/v1/task/$T_PLAIN" -H "$UA"
expect 404 "$ERR" "DELETE /task/$T_PLAIN again: 404"
REMAINING="$T_BIG $T_USER $T_CUSTOM $T_TOKEN $T_INTEGRITY $T_BADJSON"
GOT=$(list_ids)
if [[ $GOT == "$REMAINING" ]]; then
    ok "GET /task after the deletion: task $T_PLAIN no longer listed"
else
    fail "GET /task after the deletion" "task ids $REMAINING" "task ids $GOT"
fi

call curl -X DELETE "$BASE/api/tiscale/v1/task" -H "$UA"
expect 400 "$ERR" "DELETE /task without age: 400 (age is required)"
# The seed's example: delete tasks older than 500 seconds (none are).
call curl -X DELETE \
   "$BASE/api/tiscale/v1/task?age=500" \
   -H "Authorization: Token $USAGE_TOKEN"
expect 200 'body == ""' "DELETE /task?age=500: 200 with an empty body"
GOT=$(list_ids)
if [[ $GOT == "$REMAINING" ]]; then
    ok "DELETE /task?age=500 kept every task younger than 500 s"
else
    fail "DELETE /task?age=500 kept every task younger than 500 s" "task ids $REMAINING" "task ids $GOT"
fi
# The seed's example: delete all tasks.
call curl -X DELETE \
   "$BASE/api/tiscale/v1/task?age=0" \
   -H "Authorization: Token $USAGE_TOKEN"
expect 200 'body == ""' "DELETE /task?age=0: 200 with an empty body"
call curl "$BASE/api/tiscale/v1/task" -H "$UA"
expect 200 'd == []' "GET /task after DELETE ?age=0: empty list"

# ---------------------------------------------------------------------------------------------
# License
# ---------------------------------------------------------------------------------------------
echo "# license"
LICENSE_FIELDS='{"product", "machineId", "version", "serialNumber", "licenseType", "company", "expiryDate", "creationDate", "status"}'
STATUSES='("VALID", "ONLINE", "INVALID", "EXPIRED", "NO_LICENSE", "NO_MACHINE_ID")'
call curl "$BASE/api/license/v1/" -H "Authorization: Token $LICENSE_TOKEN"
expect 200 "keys(d) >= $LICENSE_FIELDS and d[\"product\"] == \"tiscale-worker\" and isinstance(d[\"machineId\"], str) and d[\"machineId\"] != \"\" and d[\"status\"] in $STATUSES" \
    "GET /api/license/v1/: every field, product tiscale-worker, a machine id, a known status"
OLD_MACHINE_ID=$(jget 'd["machineId"]')
FIRST_STATUS=$(jget 'd["status"]')
call curl "$BASE/api/license/v1/status/" -H "Authorization: Token $LICENSE_TOKEN"
expect 200 "keys(d) == {\"status\"} and d[\"status\"] == \"$FIRST_STATUS\"" \
    "GET /api/license/v1/status/: {\"status\": \"$FIRST_STATUS\"}"
call curl -X POST "$BASE/api/license/v1/machine-id/generate" -H "Authorization: Token $LICENSE_TOKEN"
expect 200 "isinstance(d[\"machineId\"], str) and d[\"machineId\"] not in (\"\", \"$OLD_MACHINE_ID\")" \
    "POST /api/license/v1/machine-id/generate: a new machine id"
MACHINE_ID=$(jget 'd["machineId"]')
call curl "$BASE/api/license/v1/" -H "$LA"
expect 200 "d[\"machineId\"] == \"$MACHINE_ID\"" "GET /api/license/v1/: reports the new machine id"

# License documents: dates relative to now (the server checks expiry against its clock).
write_license() { # FILE TYPE MACHINE_ID SERIAL CREATED_DAYS_FROM_NOW EXPIRES_DAYS_FROM_NOW
    "$PYTHON" - "$@" <<'PY'
import datetime, json, sys
path, kind, machine, serial, created, expires = sys.argv[1:7]
now = datetime.datetime.now(datetime.timezone.utc).replace(microsecond=0)
fmt = lambda days: (now + datetime.timedelta(days=int(days))).strftime("%Y-%m-%dT%H:%M:%SZ")
json.dump({"product": "tiscale-worker", "machineId": machine, "version": 1, "serialNumber": serial,
           "licenseType": kind, "company": "Example Company", "expiryDate": fmt(expires),
           "creationDate": fmt(created)}, open(path, "w"))
PY
}
write_license example_license_file REGULAR "$MACHINE_ID" SMOKE-0001 -1 365
write_license wildcard_90_days WILDCARD "$MACHINE_ID" SMOKE-0002 -1 89
write_license other_machine REGULAR 0123456789ABCDEF0123456789ABCDEF SMOKE-0003 -1 365
write_license expired REGULAR "$MACHINE_ID" SMOKE-0004 -30 -1

# The seed's example.
call curl -X PUT "$BASE/api/license/v1/upload" -H "Authorization: Token $LICENSE_TOKEN" -F 'file=@example_license_file'
expect 201 'd == {"message": "License is applied"}' "PUT /api/license/v1/upload (REGULAR license): 201 License is applied"
call curl -X PUT "$BASE/api/license/v1/upload" -H "$LA" -F "file=@example_license_file"
expect 200 'd == {"message": "License is already applied"}' "PUT the same license again: 200 License is already applied"
call curl "$BASE/api/license/v1/" -H "$LA"
expect 200 "d[\"status\"] == \"VALID\" and d[\"serialNumber\"] == \"SMOKE-0001\" and d[\"licenseType\"] == \"REGULAR\" and d[\"company\"] == \"Example Company\" and d[\"version\"] == 1 and d[\"machineId\"] == \"$MACHINE_ID\"" \
    "GET /api/license/v1/: VALID with the applied license's fields"
call curl "$BASE/api/license/v1/status/" -H "$LA"
expect 200 'd == {"status": "VALID"}' "GET /api/license/v1/status/: VALID"
call curl -X PUT "$BASE/api/license/v1/upload" -H "$LA" -F "file=@wildcard_90_days"
expect 400 "$ERR" "PUT a WILDCARD license lasting 90 days: 400"
call curl -X PUT "$BASE/api/license/v1/upload" -H "$LA" -F "file=@other_machine"
expect 400 "$ERR" "PUT a REGULAR license for another machine id: 400"
call curl -X PUT "$BASE/api/license/v1/upload" -H "$LA" -F "file=@expired"
expect 400 "$ERR" "PUT an expired license: 400"
call curl "$BASE/api/license/v1/status/" -H "$LA"
expect 200 'd == {"status": "VALID"}' "GET /api/license/v1/status/ after the refused uploads: still VALID"

# ---------------------------------------------------------------------------------------------
# Service API
# ---------------------------------------------------------------------------------------------
echo "# service"
# The seed's two sysinfo examples.
call curl "$BASE/srv/tiscale/v1/sysinfo" -H "Authorization: Token $SERVICE_TOKEN"
expect 200 'isinstance(d, dict) and "queue_size" in d' "GET /srv/tiscale/v1/sysinfo with the service token: 200"
call curl -X GET "$BASE/srv/tiscale/v1/sysinfo" -H "Authorization: Token $SERVICE_TOKEN"
expect 200 'len(d["load_average"]) == 3 and all(isinstance(x, (int, float)) for x in d["load_average"]) and is_int(d["queue_size"]) and isinstance(d["max_queue_name"], str) and is_int(d["max_queue_size"]) and d["hagent_running"] is True and 0 <= d["scratch_space"] <= 100 and 0 <= d["root_space"] <= 100' \
    "GET /srv/tiscale/v1/sysinfo: every field with its type"
# eicar.com was uploaded several times: its later copies came from the analysis cache.
call curl "$BASE/srv/tiscale/v1/sysinfo" -H "$SA"
expect 200 '(c := d["analysis_cache"])["hits"] >= 1 and c["misses"] >= 1 and 0 < c["hit_rate"] < 1 and 1 <= c["entries"] <= c["max_entries"] and 0 < c["bytes"] <= c["max_bytes"]' \
    "GET /srv/tiscale/v1/sysinfo: the analysis cache's hits, misses, entries and bytes" \
    SHOW='d.get("analysis_cache")'
call curl -X PUT "$BASE/srv/tiscale/v1/sysinfo" -H "$SA"
expect 405 "$ERR" "PUT /srv/tiscale/v1/sysinfo: 405"

call curl -X GET "$BASE/srv/tiscale/v1/mode" -H "Authorization: Token $SERVICE_TOKEN"
expect 200 'd == {"paused": False}' "GET /srv/tiscale/v1/mode: not paused"
call curl -X PUT "$BASE/srv/tiscale/v1/mode" -H "Authorization: Token $SERVICE_TOKEN" -d '{"paused": true}'
expect 400 'd == {"message": "Invalid POST data: expected JSON object"}' \
    "PUT /mode without Content-Type: application/json: 400 Invalid POST data: expected JSON object"
call curl -X GET "$BASE/srv/tiscale/v1/mode" -H "$SA"
expect 200 'd == {"paused": False}' "GET /mode: the refused PUT changed nothing"
# The seed's example.
call curl -X PUT "$BASE/srv/tiscale/v1/mode" -H "Authorization: Token $SERVICE_TOKEN" -H 'Content-Type: application/json' -d '{"paused": true}'
expect 200 'body == ""' "PUT /mode {\"paused\": true}: 200 with an empty body"
call curl -X GET "$BASE/srv/tiscale/v1/mode" -H "$SA"
expect 200 'd == {"paused": True}' "GET /mode: paused"
call curl -X GET "$BASE/srv/tiscale/v1/available" -H "Authorization: Token $SERVICE_TOKEN"
expect 503 'body == "paused"' "GET /available while paused: 503 with the plain-text body paused"
call curl -X POST "$BASE/api/tiscale/v1/upload" -H "$UA" -F file=@eicar.com
expect 503 "$ERR" "POST /upload while paused: declined (503)"
call curl -X PUT "$BASE/srv/tiscale/v1/mode" -H "Authorization: Token $SERVICE_TOKEN" -H 'Content-Type: application/json' -d '{"paused": false}'
expect 200 'body == ""' "PUT /mode {\"paused\": false}: 200 with an empty body"
call curl -X GET "$BASE/srv/tiscale/v1/mode" -H "$SA"
expect 200 'd == {"paused": False}' "GET /mode: not paused again"
call curl -X GET "$BASE/srv/tiscale/v1/available" -H "Authorization: Token $SERVICE_TOKEN"
expect 200 'body == ""' "GET /available: 200 with an empty body"

# Statistics: every field of the seed's example, five timeframes each. Seven uploads were accepted:
# six of EICAR (68 bytes) and big.bin.
STATS_FIELDS='["upload_success", "upload_failure", "files_submitted", "bytes_submitted", "files_processed", "bytes_processed", "files_unpacked", "bytes_unpacked", "mean_queue_size", "max_mean_queue_name", "max_mean_queue_size", "general_service_failure", "general_user_failure", "callback_success", "callback_failure", "splunk_success", "splunk_failure", "s3_upload", "s3_upload_failure", "s3_report_upload", "s3_report_upload_failure", "s3_unpacked_success", "s3_unpacked_failure", "sns_success", "sns_failure", "not_available", "file_processing_failure"]'
call curl "$BASE/srv/tiscale/v1/stats" -H "Authorization: Token $SERVICE_TOKEN"
expect 200 "d[\"timeframes\"] == [\"1m\", \"10m\", \"1h\", \"8h\", \"1d\"] and all(isinstance(d[k], list) and len(d[k]) == 5 for k in $STATS_FIELDS)" \
    "GET /srv/tiscale/v1/stats: every field of the seed's example over the 5 timeframes"
expect 200 'd["files_submitted"][4] >= 7 and d["files_processed"][4] >= 7 and d["upload_success"][4] >= 7 and d["bytes_submitted"][4] >= 6 * 68 + 33554432 and d["bytes_processed"][4] >= 6 * 68 + 33554432' \
    "GET /srv/tiscale/v1/stats: counts the 7 accepted uploads (files and bytes submitted and processed)"

# ---------------------------------------------------------------------------------------------
# Shutdown: SIGTERM ends the server with exit status 0 within 10 s.
# ---------------------------------------------------------------------------------------------
echo "# shutdown"
kill -TERM "$SERVER_PID"
for _ in $(seq 100); do kill -0 "$SERVER_PID" 2>/dev/null || break; sleep 0.1; done
if kill -0 "$SERVER_PID" 2>/dev/null; then
    fail "SIGTERM: the server exits within 10 s" "exit within 10 s" "still running after 10 s"
else
    RC=0
    wait "$SERVER_PID" || RC=$?
    SERVER_PID=
    if [[ $RC == 0 ]]; then
        ok "SIGTERM: the server exits 0 within 10 s"
    else
        fail "SIGTERM: the server exits 0 within 10 s" "exit status 0" "exit status $RC"
    fi
fi

echo "$PASSED passed, $FAILED failed"
[[ $FAILED == 0 ]]
