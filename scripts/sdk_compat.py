#!/usr/bin/env python3
"""sdk_compat.py - drive the real ReversingLabs Python SDK against an assay server.

The ReversingLabs SDK's TitaniumScale client (``ReversingLabs.SDK.tiscale.TitaniumScale``, package
``reversinglabs-sdk-py3``, used unmodified) was written against the real Spectra Detect Worker. This
script starts an already-built assay server (nothing is built here) on a free port with a throw-away
data directory and a usage token, then calls every TitaniumScale method the way an integration does
and checks the answers: task ids, processed reports, the uploaded file's SHA-1 in the report hashes,
custom_data round trip, filtering by custom token, ages, deletions answering the SDK's NotFoundError.

Usage:
    scripts/sdk-venv.sh                 # once: creates .venv-sdk with the SDK
    scripts/sdk_compat.py               # re-runs itself with .venv-sdk/bin/python if needed
Environment:
    ASSAY_BIN=/path/to/assay            binary to test (default: <repo>/target/debug/assay)
Output: one "ok - ..." or "not ok - ..." line per check, then "N passed, M failed"; exit 1 if any
check failed (2 if the server or the SDK could not be set up).
"""

import hashlib
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
VENV_PYTHON = ROOT / ".venv-sdk" / "bin" / "python"

try:
    from ReversingLabs.SDK.tiscale import TitaniumScale
    from ReversingLabs.SDK.helper import (BadRequestError, ForbiddenError, NotFoundError,
                                          UnauthorizedError)
except ImportError:
    # Not installed for this interpreter: use the project's SDK virtualenv if there is one.
    if VENV_PYTHON.exists() and Path(sys.prefix).resolve() != VENV_PYTHON.parent.parent.resolve() \
            and not os.environ.get("SDK_COMPAT_REEXEC"):
        os.environ["SDK_COMPAT_REEXEC"] = "1"
        os.execv(str(VENV_PYTHON), [str(VENV_PYTHON), __file__, *sys.argv[1:]])
    sys.exit("sdk_compat: the ReversingLabs SDK is not installed; run scripts/sdk-venv.sh first")

try:
    import requests_toolbelt  # noqa: F401  (the SDK's large_file=True upload path needs it)
    HAVE_TOOLBELT = True
except ImportError:
    HAVE_TOOLBELT = False

USAGE_TOKEN = "exampletokenSdkCompat01234567890123456789"  # 41 alphanumerics (30-60 allowed)
EICAR = b"X5O!P%@AP[4\\PZX54(P^)7CC)7}$EICAR-STANDARD-ANTIVIRUS-TEST-FILE!$H+H*"
EICAR_SHA1 = "3395856ce81f2b7382dee72602f798b642f14140"

# ------------------------------------------------------------------------------------------------
# Checks
# ------------------------------------------------------------------------------------------------
passed = 0
failed = 0
skipped = 0


def check(description):
    """Decorator: runs the function at once as one check. An exception (AssertionError or an SDK
    error) fails it; the function's return value replaces it (None on failure)."""
    def run(fn):
        global passed, failed
        try:
            value = fn()
        except Exception as e:  # report and go on with the next check
            failed += 1
            print(f"not ok - {description}")
            print(f"    {type(e).__name__}: {e}")
            response = getattr(e, "response_object", None)
            if response is not None:
                print(f"    HTTP {response.status_code}: {response.text[:400]}")
            return None
        passed += 1
        print(f"ok - {description}")
        return value
    return run


def skip(description, why):
    global skipped
    skipped += 1
    print(f"ok - {description} # SKIP {why}")


def expect(condition, message):
    if not condition:
        raise AssertionError(message)


def raises(exception_type, fn, *args, **kwargs):
    """Asserts that fn(*args, **kwargs) raises exception_type."""
    try:
        fn(*args, **kwargs)
    except exception_type:
        return
    raise AssertionError(f"expected {exception_type.__name__}, nothing was raised")


def entry_hashes(entry):
    """{name: value} of a tc_report entry's hashes, nested or flattened (view=flat)."""
    found = entry["info"]["file"]["hashes"] if "info" in entry else entry["info.file.hashes"]
    return {h["name"]: h["value"] for h in found}


def task_id_of(task_url):
    match = re.fullmatch(re.escape(BASE) + r"/api/tiscale/v1/task/([0-9]+)", task_url)
    expect(match, f"task_url {task_url!r} is not {BASE}/api/tiscale/v1/task/<id>")
    return int(match.group(1))


def processed_report(response, task_id, sha1):
    """Common checks of a finished task answer; returns the parsed JSON."""
    expect(response is not None, "no processed report within the SDK's retries")
    expect(response.status_code == 200, f"HTTP {response.status_code}")
    doc = response.json()
    expect(doc["task_id"] == task_id, f"task_id {doc['task_id']} != {task_id}")
    expect(isinstance(doc["processed"], int) and doc["processed"] > 0,
           f"processed is {doc['processed']!r}")
    expect(isinstance(doc["tc_report"], list) and doc["tc_report"], "tc_report is empty")
    hashes = entry_hashes(doc["tc_report"][0])
    expect(hashes.get("sha1") == sha1, f"report sha1 {hashes.get('sha1')} != {sha1}")
    return doc


def listed_ids(response):
    expect(response.status_code == 200, f"HTTP {response.status_code}")
    items = response.json()
    for item in items:
        expect("tc_report" not in item, f"list item carries tc_report: {item}")
    return sorted(item["task_id"] for item in items)


# ------------------------------------------------------------------------------------------------
# Server
# ------------------------------------------------------------------------------------------------
def start_server(tmp, extra_config=""):
    """Starts `assay serve` with the usage token and `extra_config` in `tmp`; returns the process
    and its base URL (http or https, as it says it listens)."""
    binary = Path(os.environ.get("ASSAY_BIN") or ROOT / "target" / "debug" / "assay")
    if not os.access(binary, os.X_OK):
        sys.exit(f"sdk_compat: no server binary at {binary} (build it first, or set ASSAY_BIN)")
    tmp.mkdir(parents=True, exist_ok=True)
    config = tmp / "assay.toml"
    config.write_text(f'# written by scripts/sdk_compat.py\n[tokens]\nusage = "{USAGE_TOKEN}"\n'
                      + extra_config)
    log_path = tmp / "server.log"
    log = open(log_path, "wb")
    server = subprocess.Popen(
        [str(binary), "serve", "--config", str(config), "--listen", "127.0.0.1:0",
         "--data-dir", str(tmp / "data")],
        stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL)
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        found = re.search(r"listening on (https?://127\.0\.0\.1:[0-9]+)", log_path.read_text())
        if found:
            return server, found.group(1)
        if server.poll() is not None:
            break
        time.sleep(0.1)
    stop_server(server)
    sys.stderr.write(log_path.read_text())
    sys.exit("sdk_compat: the server did not report 'listening on http(s)://127.0.0.1:PORT'")


def make_ca(tmp):
    """A private CA and a certificate for 127.0.0.1 signed by it, made with openssl(1).
    Returns the paths of the CA certificate, the server certificate and its key."""
    ca_key, ca, key, csr, cert = (tmp / n for n in
                                  ["ca-key.pem", "ca.pem", "key.pem", "req.pem", "cert.pem"])
    ext = tmp / "san.ext"
    ext.write_text("subjectAltName = IP:127.0.0.1, DNS:localhost\n")
    for args in [
        ["req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", ca_key, "-out", ca,
         "-days", "2", "-subj", "/CN=assay sdk_compat test CA"],
        ["req", "-newkey", "rsa:2048", "-nodes", "-keyout", key, "-out", csr,
         "-subj", "/CN=127.0.0.1"],
        ["x509", "-req", "-in", csr, "-CA", ca, "-CAkey", ca_key, "-CAcreateserial",
         "-out", cert, "-days", "2", "-extfile", ext],
    ]:
        subprocess.run(["openssl", *map(str, args)], check=True, capture_output=True)
    return ca, cert, key


def stop_server(server):
    if server.poll() is None:
        server.terminate()
        try:
            server.wait(timeout=10)
        except subprocess.TimeoutExpired:
            server.kill()
            server.wait()


# ------------------------------------------------------------------------------------------------
# The SDK calls
# ------------------------------------------------------------------------------------------------
def run_checks(tmp):
    eicar = tmp / "eicar.com"
    eicar.write_bytes(EICAR)
    other = tmp / "other.bin"
    other.write_bytes(os.urandom(4096))
    other_sha1 = hashlib.sha1(other.read_bytes()).hexdigest()

    # get_results polls up to `retries` times: 30 s for a result, however loaded the machine.
    ts = TitaniumScale(host=BASE, token=USAGE_TOKEN, wait_time_seconds=1, retries=30)

    @check("test_connection() with the usage token")
    def _():
        ts.test_connection()

    @check("test_connection() without a token raises UnauthorizedError (401)")
    def _():
        raises(UnauthorizedError, TitaniumScale(host=BASE, wait_time_seconds=1, retries=1).test_connection)

    @check("test_connection() with a wrong token raises ForbiddenError (403)")
    def _():
        wrong = TitaniumScale(host=BASE, token="wrongtoken0123456789012345678901234",
                              wait_time_seconds=1, retries=1)
        raises(ForbiddenError, wrong.test_connection)

    custom_data = {"file_source": {"uploader": "malware_analyst", "origin": "china"}}
    user_data = {"callback": {"view": "flat", "report_type": "large",
                              "url": "http://127.0.0.1:9/sdk-compat-callback"}}

    @check("upload_sample_from_path(custom_token, custom_data, user_data): an absolute task_url")
    def upload():
        response = ts.upload_sample_from_path(
            file_path=str(eicar), custom_token="sdkcustom",
            custom_data=json.dumps(custom_data), user_data=json.dumps(user_data))
        expect(response.status_code == 200, f"HTTP {response.status_code}")
        task_url = response.json()["task_url"]
        return task_url, task_id_of(task_url)
    task_url, task_a = upload or (None, None)

    @check(f"get_results(task {task_a}): processed, EICAR sha1, custom_data unchanged, no user_data")
    def _():
        doc = processed_report(ts.get_results(task_url), task_a, EICAR_SHA1)
        expect(doc.get("custom_data") == custom_data, f"custom_data is {doc.get('custom_data')!r}")
        expect("user_data" not in doc and "sdk-compat-callback" not in json.dumps(doc),
               "user_data was echoed")

    @check(f"get_results(task {task_a}, full_report=True): processed with the full report")
    def _():
        doc = processed_report(ts.get_results(task_url, full_report=True), task_a, EICAR_SHA1)
        expect({"md5", "sha1", "sha256"} <= set(entry_hashes(doc["tc_report"][0])),
               "md5/sha1/sha256 missing from the hashes")
        expect(doc.get("custom_data") == custom_data, f"custom_data is {doc.get('custom_data')!r}")

    @check("upload_sample_and_get_results(file_path, full_report=True): processed, the file's sha1")
    def task_b():
        response = ts.upload_sample_and_get_results(file_path=str(other), full_report=True)
        doc = processed_report(response, response.json()["task_id"], other_sha1)
        expect("custom_data" not in doc, "custom_data present although none was sent")
        return doc["task_id"]

    @check("upload_sample_and_get_results(file_source, custom_token): processed, the EICAR sha1")
    def task_c():
        with open(eicar, "rb") as handle:
            response = ts.upload_sample_and_get_results(file_source=handle, custom_token="sdkcustom")
        return processed_report(response, response.json()["task_id"], EICAR_SHA1)["task_id"]

    if HAVE_TOOLBELT:
        @check("upload_sample_and_get_results(large_file=True): streamed upload processed")
        def task_d():
            response = ts.upload_sample_and_get_results(file_path=str(other), large_file=True,
                                                        custom_data=json.dumps({"n": 1}))
            doc = processed_report(response, response.json()["task_id"], other_sha1)
            expect(doc.get("custom_data") == {"n": 1}, f"custom_data is {doc.get('custom_data')!r}")
            return doc["task_id"]
    else:
        task_d = None
        skip("upload_sample_and_get_results(large_file=True)", "requests-toolbelt not installed")

    @check("upload_sample_from_path with a wrong integrity_check_hash raises BadRequestError (400)")
    def _():
        try:
            ts.upload_sample_from_path(file_path=str(eicar),
                                       custom_data=json.dumps({"integrity_check_hash": "0" * 40}))
        except BadRequestError as e:
            expect("integrity check failed" in e.response_object.json()["message"],
                   f"message is {e.response_object.text!r}")
            return
        raise AssertionError("the upload was accepted")

    all_ids = sorted(i for i in (task_a, task_b, task_c, task_d) if i is not None)
    token_ids = sorted(i for i in (task_a, task_c) if i is not None)

    @check(f"list_processing_tasks(): every task ({' '.join(map(str, all_ids))}), no tc_report")
    def _():
        got = listed_ids(ts.list_processing_tasks())
        expect(got == all_ids, f"listed {got}")

    @check(f"list_processing_tasks(custom_token='sdkcustom'): only {token_ids}")
    def _():
        got = listed_ids(ts.list_processing_tasks(custom_token="sdkcustom"))
        expect(got == token_ids, f"listed {got}")

    @check("list_processing_tasks(custom_token='nobody'): none")
    def _():
        got = listed_ids(ts.list_processing_tasks(custom_token="nobody"))
        expect(got == [], f"listed {got}")

    @check("list_processing_tasks(age=500): none (every task is younger)")
    def _():
        got = listed_ids(ts.list_processing_tasks(age=500))
        expect(got == [], f"listed {got}")

    @check("list_processing_tasks(age=0): every task")
    def _():
        got = listed_ids(ts.list_processing_tasks(age=0))
        expect(got == all_ids, f"listed {got}")

    @check(f"get_processing_task_info({task_a}): full report, custom_data")
    def _():
        doc = processed_report(ts.get_processing_task_info(task_id=task_a), task_a, EICAR_SHA1)
        expect(doc.get("custom_data") == custom_data, f"custom_data is {doc.get('custom_data')!r}")

    @check(f"get_processing_task_info({task_b}, full=False, v13=True, view='flat')")
    def _():
        processed_report(ts.get_processing_task_info(task_id=task_b, full=False, v13=True, view="flat"),
                         task_b, other_sha1)

    @check(f"get_processing_task_info({task_b}, full=True, view='extended')")
    def _():
        processed_report(ts.get_processing_task_info(task_id=task_b, full=True, view="extended"),
                         task_b, other_sha1)

    @check("get_processing_task_info(999999) raises NotFoundError")
    def _():
        raises(NotFoundError, ts.get_processing_task_info, task_id=999999)

    @check(f"delete_processing_task({task_a}): 200, then NotFoundError for info, results and delete")
    def _():
        expect(ts.delete_processing_task(task_id=task_a).status_code == 200, "not 200")
        raises(NotFoundError, ts.get_processing_task_info, task_id=task_a)
        raises(NotFoundError, ts.get_results, task_url)
        raises(NotFoundError, ts.delete_processing_task, task_id=task_a)

    remaining = [i for i in all_ids if i != task_a]

    @check("delete_multiple_tasks(age=500): 200, younger tasks kept")
    def _():
        expect(ts.delete_multiple_tasks(age=500).status_code == 200, "not 200")
        got = listed_ids(ts.list_processing_tasks())
        expect(got == remaining, f"listed {got}, expected {remaining}")

    @check("delete_multiple_tasks(age=0): 200, every task gone (NotFoundError)")
    def _():
        expect(ts.delete_multiple_tasks(age=0).status_code == 200, "not 200")
        got = listed_ids(ts.list_processing_tasks())
        expect(got == [], f"listed {got}")
        for task_id in remaining:
            raises(NotFoundError, ts.get_processing_task_info, task_id=task_id)

    @check("get_yara_id(): a 40-hex id")
    def _():
        response = ts.get_yara_id()
        expect(response.status_code == 200, f"HTTP {response.status_code}")
        expect(re.fullmatch("[0-9a-f]{40}", response.json()["id"]), f"id {response.json()!r}")


def run_https_and_hub_checks(tmp):
    """The SDK and curl against an HTTPS Worker whose certificate comes from a private CA, and
    the SDK uploading through a Hub in front of it, the report read from the Worker."""
    ca, cert, key = make_ca(tmp)
    # requests lets these variables override a session's own `verify` (the SDK's verify=):
    # without removing them, the SDK would check the Worker against the system's roots.
    for name in ["REQUESTS_CA_BUNDLE", "CURL_CA_BUNDLE"]:
        os.environ.pop(name, None)
    servers = []
    try:
        worker, worker_base = start_server(
            tmp / "https-worker", f'[tls]\ncert_file = "{cert}"\nkey_file = "{key}"\n')
        servers.append(worker)
        hub, hub_base = start_server(
            tmp / "hub", f'[hub]\npoll_secs = 1\nca_file = "{ca}"\n'
                         f'[[hub.workers]]\nurl = "{worker_base}"\nusage_token = "{USAGE_TOKEN}"\n')
        servers.append(hub)
        sample = tmp / "https-sample.bin"
        sample.write_bytes(os.urandom(2048))
        sha1 = hashlib.sha1(sample.read_bytes()).hexdigest()

        @check("HTTPS Worker, private CA: the SDK (verify=CA) uploads and gets the report")
        def _():
            expect(worker_base.startswith("https://"), f"listening on {worker_base}")
            ts = TitaniumScale(host=worker_base, token=USAGE_TOKEN, wait_time_seconds=1,
                               retries=30, verify=str(ca))
            ts.test_connection()
            response = ts.upload_sample_from_path(file_path=str(sample))
            task_url = response.json()["task_url"]
            expect(task_url.startswith(worker_base + "/api/tiscale/v1/task/"), task_url)
            processed_report(ts.get_results(task_url), int(task_url.rsplit("/", 1)[1]), sha1)

        @check("HTTPS Worker: curl --cacert uploads (task_url in https); without the CA it refuses")
        def _():
            auth = ["-H", f"Authorization: Token {USAGE_TOKEN}"]
            out = subprocess.run(
                ["curl", "-sS", "--fail", "--cacert", str(ca), *auth, "-F", f"file=@{sample}",
                 worker_base + "/api/tiscale/v1/upload"], capture_output=True, text=True)
            expect(out.returncode == 0, f"curl: {out.returncode} {out.stderr}")
            expect(json.loads(out.stdout)["task_url"].startswith(worker_base), out.stdout)
            out = subprocess.run(["curl", "-sS", worker_base + "/srv/tiscale/v1/available"],
                                 capture_output=True, text=True)
            expect(out.returncode == 60, f"curl without the CA: exit {out.returncode}")

        @check("Hub: the SDK uploads to the Hub; task_url is the Worker's, the report read there")
        def _():
            via_hub = TitaniumScale(host=hub_base, token=USAGE_TOKEN, wait_time_seconds=1,
                                    retries=30, verify=str(ca))
            response = via_hub.upload_sample_from_path(file_path=str(sample),
                                                       custom_data=json.dumps({"via": "hub"}))
            task_url = response.json()["task_url"]
            expect(task_url.startswith(worker_base + "/api/tiscale/v1/task/"), task_url)
            doc = processed_report(via_hub.get_results(task_url),
                                   int(task_url.rsplit("/", 1)[1]), sha1)
            expect(doc["custom_data"] == {"via": "hub"}, f"custom_data {doc['custom_data']!r}")
            raises(NotFoundError, via_hub.get_processing_task_info, task_id=1)
    finally:
        for server in servers:
            stop_server(server)


def main():
    global BASE
    tmp = Path(tempfile.mkdtemp(prefix="assay-sdk-compat."))
    server = None
    try:
        server, BASE = start_server(tmp)
        print(f"# {server.args[0]} listening on {BASE}; ReversingLabs SDK from "
              f"{sys.modules['ReversingLabs.SDK.tiscale'].__file__}")
        run_checks(tmp)
        stop_server(server)
        run_https_and_hub_checks(tmp)
    finally:
        if server is not None:
            stop_server(server)
            if failed:
                print("# last server log lines:")
                for name in ["server.log", "https-worker/server.log", "hub/server.log"]:
                    path = tmp / name
                    if path.exists():
                        print(f"# {name}:")
                        for line in path.read_text().splitlines()[-10:]:
                            print(f"#   {line}")
        shutil.rmtree(tmp, ignore_errors=True)
    print(f"{passed} passed, {failed} failed" + (f", {skipped} skipped" if skipped else ""))
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
