"""Argo CD's and Argo Rollouts' metrics for the live-stack test, which runs without a cluster: the
dashboard's Delivery row and prometheus/rules/delivery.yml read them, so their queries are proven on
series with the controllers' names and label sets (those of prometheus/tests/delivery_test.yml,
where each is cited), scraped by a real Prometheus as the in-cluster jobs `argocd` and
`argo-rollouts` scrape them. `incident()` plays a rollout that aborts and an application that turns
Degraded, then a fixed release that syncs and brings both back, so every panel has a value."""

import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

APP = ('namespace="argocd",name="echodiary",project="echodiary",'
       'dest_server="https://kubernetes.default.svc"')
ARGOCD = """# TYPE argocd_app_info gauge
argocd_app_info{{{app},autosync_enabled="true",repo="https://github.com/echodiary/echodiary-backend",\
dest_namespace="echodiary",sync_status="Synced",health_status="{health}"}} 1
# TYPE argocd_app_sync_total counter
argocd_app_sync_total{{{app},phase="Succeeded",dry_run="false"}} {synced}
argocd_app_sync_total{{{app},phase="Failed",dry_run="false"}} {failed}
"""
ROLLOUTS = """# TYPE rollout_info gauge
rollout_info{{namespace="echodiary",name="echodiary",strategy="canary",phase="{phase}"}} 1
"""
# The in-cluster scrape jobs (deploy/k8s/monitoring/base/prometheus.yml) and their paths here.
JOBS = {"argocd": "/argocd", "argo-rollouts": "/rollouts"}


class ArgoStandIn:
    def __init__(self, port: int) -> None:
        self.port, self.health, self.phase, self.synced, self.failed = port, "Healthy", "Completed", 1, 0
        standin = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                body = standin.exposition(self.path).encode()
                self.send_response(200 if body else 404)
                self.send_header("Content-Type", "text/plain; version=0.0.4")
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *args) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", port), Handler)
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def exposition(self, path: str) -> str:
        if path == JOBS["argocd"]:
            return ARGOCD.format(app=APP, health=self.health, synced=self.synced, failed=self.failed)
        return ROLLOUTS.format(phase=self.phase) if path == JOBS["argo-rollouts"] else ""

    def scrape_jobs(self) -> str:
        """Scrape configuration for prometheus.yml's scrape_configs, as the cluster has it."""
        return "".join(f"\n  - job_name: {job}\n    metrics_path: {path}\n    static_configs:\n"
                       f"      - targets: [\"127.0.0.1:{self.port}\"]\n" for job, path in JOBS.items())

    def incident(self, begin: bool) -> None:
        """A failed sync and an aborted canary leave the application Degraded; a fix then syncs."""
        if begin:
            self.health, self.phase, self.failed = "Degraded", "Abort", self.failed + 1
        else:
            self.health, self.phase, self.synced = "Healthy", "Completed", self.synced + 1

    def stop(self) -> None:
        self.server.shutdown()
