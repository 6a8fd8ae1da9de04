"""Servers on 127.0.0.1 that stand in for a Slack incoming webhook and an SMTP server in tests.

Both record what they receive. The webhook replies to every POST with a status the test chooses
(200 by default). The SMTP server speaks just enough of the protocol for smtplib: greeting,
EHLO/HELO, MAIL, RCPT, DATA, RSET, NOOP and QUIT, without TLS or authentication.
"""

from __future__ import annotations

import email
import html
import json
import re
import socketserver
import threading
from dataclasses import dataclass
from email.message import Message as EmailMessage
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer


@dataclass(frozen=True)
class WebhookRequest:
    path: str
    body: dict

    @property
    def text(self) -> str:
        return self.body.get("text", "")


class WebhookServer:
    """An HTTP server that records JSON POST bodies and replies with `status`."""

    def __init__(self, status: int = 200) -> None:
        self.status = status
        self.requests: list[WebhookRequest] = []
        server = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self):
                length = int(self.headers.get("Content-Length") or 0)
                raw = self.rfile.read(length).decode()
                server.requests.append(WebhookRequest(path=self.path, body=json.loads(raw)))
                reply = b"ok" if server.status == 200 else b"internal_error"
                self.send_response(server.status)
                self.send_header("Content-Type", "text/plain")
                self.send_header("Content-Length", str(len(reply)))
                self.end_headers()
                self.wfile.write(reply)

            def log_message(self, format, *args):
                pass

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)

    @property
    def port(self) -> int:
        return self._server.server_address[1]

    def url(self, path: str = "/services/T000/B000/XXXX") -> str:
        return f"http://127.0.0.1:{self.port}{path}"

    def texts(self) -> list[str]:
        return [request.text for request in self.requests]

    def start(self) -> WebhookServer:
        self._thread.start()
        return self

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()


@dataclass(frozen=True)
class ReceivedMail:
    mail_from: str
    recipients: tuple[str, ...]
    data: str

    @property
    def message(self) -> EmailMessage:
        return email.message_from_string(self.data)

    @property
    def subject(self) -> str:
        return str(self.message["Subject"])

    @property
    def body(self) -> str:
        """The decoded text of every text part, joined."""
        parts = []
        for part in self.message.walk():
            if part.get_content_maintype() == "text":
                parts.append(part.get_payload(decode=True).decode(part.get_content_charset() or "utf-8"))
        return "\n".join(parts)

    @property
    def text(self) -> str:
        """The body with HTML tags removed and entities decoded, as a reader sees it."""
        return html.unescape(re.sub(r"<[^>]+>", "", self.body))


class SmtpServer:
    """A minimal SMTP server that records every message it accepts."""

    def __init__(self) -> None:
        self.messages: list[ReceivedMail] = []
        server = self

        class Handler(socketserver.StreamRequestHandler):
            def reply(self, line: str) -> None:
                self.wfile.write(f"{line}\r\n".encode())
                self.wfile.flush()

            def handle(self):
                mail_from, recipients = "", []
                self.reply("220 127.0.0.1 capture SMTP ready")
                while True:
                    raw = self.rfile.readline()
                    if not raw:
                        return
                    line = raw.decode().rstrip("\r\n")
                    command = line[:4].upper()
                    if command in ("EHLO", "HELO"):
                        self.reply("250 127.0.0.1")
                    elif command == "MAIL":
                        mail_from, recipients = line.split(":", 1)[1].strip(), []
                        self.reply("250 OK")
                    elif command == "RCPT":
                        recipients.append(line.split(":", 1)[1].strip().strip("<>"))
                        self.reply("250 OK")
                    elif command == "DATA":
                        self.reply("354 End data with <CR><LF>.<CR><LF>")
                        lines = []
                        while (data_line := self.rfile.readline().decode()) not in (".\r\n", ""):
                            # Undo the sender's dot-stuffing.
                            lines.append(data_line[1:] if data_line.startswith("..") else data_line)
                        server.messages.append(ReceivedMail(mail_from, tuple(recipients), "".join(lines)))
                        self.reply("250 OK: queued")
                    elif command in ("RSET", "NOOP"):
                        self.reply("250 OK")
                    elif command == "QUIT":
                        self.reply("221 Bye")
                        return
                    else:
                        self.reply("502 Command not implemented")

        self._server = socketserver.ThreadingTCPServer(("127.0.0.1", 0), Handler)
        self._server.daemon_threads = True
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)

    @property
    def port(self) -> int:
        return self._server.server_address[1]

    def start(self) -> SmtpServer:
        self._thread.start()
        return self

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()


def slack_connection(url: str) -> str:
    """Return the AIRFLOW_CONN_* JSON of a Slack incoming webhook connection with the full URL."""
    return json.dumps({"conn_type": "slackwebhook", "password": url})


def smtp_connection(port: int, from_email: str = "airflow@example.com") -> str:
    """Return the AIRFLOW_CONN_* JSON of a plain SMTP connection (no TLS, no retries) to 127.0.0.1."""
    return json.dumps(
        {
            "conn_type": "smtp",
            "host": "127.0.0.1",
            "port": port,
            "extra": {
                "disable_ssl": True,
                "disable_tls": True,
                "from_email": from_email,
                "retry_limit": 0,
                "timeout": 10,
            },
        }
    )
