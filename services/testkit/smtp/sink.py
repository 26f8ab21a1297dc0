"""A real SMTP server for tests: aiosmtpd (pinned in
deploy/local/requirements-test.txt), speaking the whole protocol, with a
handler that keeps each accepted message for the test to read.

    sink.py PORT DIR [CERT KEY]

Each message becomes DIR/<n>.json: the envelope, the decoded headers and
the text body (what a mail client would show), and the raw message. With a
certificate and key the server offers STARTTLS and requires it before MAIL.

The server refuses some addresses so tests can see how a sender copes:
a local part starting with "refuse" gets 550 (the mailbox does not exist),
one starting with "defer" gets 451 (try again later).
"""

import asyncio
import email
import email.policy
import itertools
import json
import os
import signal
import ssl
import sys

from aiosmtpd.controller import Controller


class Sink:
    def __init__(self, folder):
        self.folder = folder
        self.numbers = itertools.count(1)

    async def handle_RCPT(self, server, session, envelope, address, rcpt_options):
        local = address.split("@", 1)[0].lower()
        if local.startswith("refuse"):
            return "550 5.1.1 <%s>: mailbox unavailable" % address
        if local.startswith("defer"):
            return "451 4.3.0 <%s>: try again later" % address
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server, session, envelope):
        message = email.message_from_bytes(envelope.content, policy=email.policy.default)
        body = message.get_body(preferencelist=("plain",))
        record = {
            "mail_from": envelope.mail_from,
            "rcpt_tos": envelope.rcpt_tos,
            "tls": session.ssl is not None,
            "message_id": str(message.get("Message-ID", "")),
            "from": str(message.get("From", "")),
            "to": str(message.get("To", "")),
            "subject": str(message.get("Subject", "")),
            "body": body.get_content() if body is not None else "",
            "raw": envelope.content.decode("utf-8", "replace"),
        }
        number = next(self.numbers)
        path = os.path.join(self.folder, "%06d.json" % number)
        with open(path + ".part", "w", encoding="utf-8") as out:
            json.dump(record, out, ensure_ascii=False)
        os.replace(path + ".part", path)
        return "250 2.0.0 Message accepted for delivery"


def main():
    port = int(sys.argv[1])
    folder = sys.argv[2]
    os.makedirs(folder, exist_ok=True)
    kwargs = {}
    if len(sys.argv) == 5:
        context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        context.load_cert_chain(sys.argv[3], sys.argv[4])
        kwargs = {"tls_context": context, "require_starttls": True}
    controller = Controller(
        Sink(folder), hostname="127.0.0.1", port=port, server_kwargs=kwargs
    )
    controller.start()
    print("ready", flush=True)
    stop = asyncio.new_event_loop()
    for name in (signal.SIGTERM, signal.SIGINT):
        stop.add_signal_handler(name, stop.stop)
    try:
        stop.run_forever()
    finally:
        controller.stop()


if __name__ == "__main__":
    main()
