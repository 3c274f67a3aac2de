"""The archive export: one printable HTML page per case file, and its PDF printed by
headless Chromium (Debian's package; `deploy/local/chromium.sh install`)."""

from __future__ import annotations

import html
import json
import subprocess
import tempfile
from datetime import datetime
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

SHANGHAI = ZoneInfo("Asia/Shanghai")
LABELS = {
    "case.reported": "上报 Reported", "case.registered": "立案 Registered",
    "case.report_merged": "合并 Report merged", "case.dispatched": "派单 Dispatched",
    "case.signed_for": "签收 Signed for", "case.returned": "退单 Returned",
    "case.handled": "办结 Handled", "case.verified": "核查 Verified",
    "case.reopened": "重办 Reopened", "case.closed": "结案 Closed",
    "case.evaluated": "评价 Evaluated", "case.warned": "预警 Warned",
    "case.overdue": "超期 Overdue", "case.reminded": "催办 Reminded",
    "case.escalated": "提级 Escalated", "case.notice_issued": "督办 Notice issued",
    "case.notice_answered": "督办回复 Notice answered",
    "case.notice_overdue": "督办超期 Notice overdue",
    "case.extension_requested": "延期申请 Extension requested",
    "case.extension_granted": "延期批准 Extension granted",
    "case.extension_refused": "延期驳回 Extension refused",
    "case.whistle_blown": "吹哨 Whistle blown", "case.reported_in": "报到 Reported in",
    "case.whistle_closed": "吹哨结束 Whistle closed",
    "case.report_in_overdue": "报到超期 Report-in overdue",
}
STYLE = """
body { font-family: "WenQuanYi Micro Hei", "Noto Sans CJK SC", sans-serif; font-size: 10pt;
       margin: 1.5cm; color: #111; }
h1 { font-size: 16pt; margin: 0 0 .3em; } h2 { font-size: 12pt; margin: 1.2em 0 .4em; }
table { border-collapse: collapse; width: 100%; }
th, td { border: 1px solid #999; padding: 3px 5px; vertical-align: top; text-align: left; }
th { background: #eee; } td.when { white-space: nowrap; }
td.details { font-size: 8.5pt; word-break: break-all; }
.ok { color: #060; } .broken { color: #b00; font-weight: bold; }
.meta td:first-child { width: 9em; background: #f6f6f6; }
@page { size: A4; margin: 1cm; }
"""


def local(value: str | None) -> str:
    if not value:
        return ""
    return datetime.fromisoformat(value).astimezone(SHANGHAI).strftime("%Y-%m-%d %H:%M:%S")


def said(details: dict[str, Any]) -> dict[str, Any]:
    """What an entry says, without the empty fields (the archive keeps them all)."""
    return {k: v for k, v in details.items() if v not in (None, "", [], {}, ())}


def render_html(file: dict[str, Any], chain: dict[str, Any], printed_at: datetime,
                printed_by: str) -> str:
    s = file["state"]
    e = html.escape
    rows = "".join(
        f"<tr><td>{x['seq']}</td><td class=when>{local(x['occurred_at'])}</td>"
        f"<td>{e(LABELS.get(x['event_type'], x['event_type']))}</td><td>{e(x['producer'])}</td>"
        f"<td>{e(x['actor'].get('name') or '')} ({e(x['actor']['id'])}, "
        f"{e(x['actor']['role'])})</td>"
        f"<td class=details>{e(json.dumps(said(x['details']), ensure_ascii=False))}</td></tr>"
        for x in file["entries"])
    verdict = (f"<span class=ok>完整 intact: {chain['archives'][0]['entries']} entries, head "
               f"{e(chain['archives'][0]['head'] or '')}</span>" if chain["ok"] else
               f"<span class=broken>已被篡改 BROKEN at entry {chain['first_broken']['broken_at']}: "
               f"{e(chain['first_broken']['reason'] or '')}</span>")
    facts = [("案件编号 Case", file["case_id"]), ("状态 Status", s["status"]),
             ("类别 Category", s["category"]), ("标题 Title", s["title"]),
             ("区域 Area", "/".join(s["area_path"])), ("责任部门 Department", s["department"]),
             ("办理时限 Handle by", local(s["handle_deadline"])),
             ("来件数 Reports", str(max(1, len(s["reports"])))),
             ("截至 As of", local(file["as_of"]) if file["as_of"] else "现在 now"),
             ("哈希链 Hash chain", None)]
    meta = "".join(f"<tr><td>{e(k)}</td><td>{verdict if v is None else e(v or '')}</td></tr>"
                   for k, v in facts)
    return (f"<!doctype html><html lang=zh-CN><head><meta charset=utf-8>"
            f"<title>案卷 {e(file['case_id'])}</title><style>{STYLE}</style></head><body>"
            f"<h1>一件一档 · 案卷归档 Case archive</h1>"
            f"<p>打印 Printed {local(printed_at.isoformat())} · {e(printed_by)}</p>"
            f"<table class=meta>{meta}</table><h2>办理经过 History</h2>"
            f"<table><tr><th>#</th><th>时间 When</th><th>事项 What</th><th>服务 Service</th>"
            f"<th>经办 Who</th><th>内容 Details</th></tr>{rows}</table></body></html>")


class PdfError(RuntimeError):
    pass


def print_pdf(page: str, chromium: str = "chromium", timeout: float = 90) -> bytes:
    """Print one HTML page to PDF with headless Chromium, in a throwaway profile."""
    with tempfile.TemporaryDirectory(prefix="archive-pdf-") as tmp:
        source, target = Path(tmp) / "archive.html", Path(tmp) / "archive.pdf"
        source.write_text(page, encoding="utf-8")
        command = [chromium, "--headless", "--no-sandbox", "--disable-gpu",
                   "--disable-dev-shm-usage", "--no-first-run", "--no-pdf-header-footer",
                   f"--user-data-dir={Path(tmp) / 'profile'}", f"--print-to-pdf={target}",
                   source.as_uri()]
        try:
            done = subprocess.run(command, capture_output=True, timeout=timeout, check=False)
        except (OSError, subprocess.TimeoutExpired) as exc:
            raise PdfError(f"chromium could not print: {type(exc).__name__}") from None
        if done.returncode != 0 or not target.exists():
            raise PdfError(f"chromium exited with {done.returncode}")
        return target.read_bytes()
