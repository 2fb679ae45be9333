"""Runs moto server (exactly as `moto_server ARGS...` does) after making SQS's hot paths cheap.

Why: in moto 5.2.5 every read of `Queue.attributes` builds the whole attribute dict, and each build counts
the visible, in-flight and delayed messages by scanning the queue three times. Two paths do that per
message: `SQSBackend.is_message_valid_based_on_retention_period` (run for every received message) asks
`get_queue_attributes(queue, ["MessageRetentionPeriod"])`, which builds the dict three times, and
`SQSBackend.send_message` (run for every S3 notification) reads
`queue.attributes.get("ContentBasedDeduplication")`, one more build. With thousands of messages waiting,
moto's cost per second grows with the square of the rate and it, not the pipeline, sets the throughput.

What: both paths read the one attribute they need straight from the queue, converted the way
`Queue.attributes` converts it (a bool becomes "true"/"false"; ContentBasedDeduplication is only present
for FIFO queues), so they return and raise what the originals do; only their cost changes.

Also: the scans that remain linear (`Queue.messages`, run by every ReceiveMessage and again by every long
poll each time a message arrives; the in-flight and delayed counts of GetQueueAttributes) asked the clock
twice per message, and moto's clock builds two datetimes per reading (~4 µs). With a thousand messages in
flight in the mapping's open batches, five long polls and 15 arrivals a second, that alone kept moto's one
interpreter 90% busy before any invocation ran (py-spy, 2026-11-26). The replacements read the clock once
per scan and compare each message's own `visible_at` and `delayed_until` with it, which is what
`Message.visible` and `Message.delayed` do per message; a scan takes microseconds, so the answer is the same.

And one fix: `Queue.delete_message` rebuilds the queue's message list from a copy without the queue's lock,
which `add_message` takes to append. A notification appended between the copy and the write was lost for
good (a file never delivered, seen in a 10 files/s load run), and of two deletes at once one was undone (the
message came back after its visibility timeout). The replacement runs the original under the lock.

This is specific to moto 5.2.5 (pinned in requirements.txt). It refuses to start when a patched or relied-on
function is missing or its source differs from the 5.2.5 text this was checked against: after a moto upgrade
the patch must be revisited (or dropped, if upstream fixed it). It is worth offering upstream to moto.
"""

import hashlib
import inspect
import sys
import textwrap

import moto.sqs.models as sqs_models
from moto.server import main

# The source (sha256) of every function this relies on, as in moto 5.2.5: the two replaced ones, and the two
# whose results the replacements reproduce.
EXPECTED_SOURCES = {
    "SQSBackend.send_message": "bf161af09a9e6b860e3dd5d8f58ccc802623caa86883fab9b2ffb333f8f70330",
    "SQSBackend.is_message_valid_based_on_retention_period": "cca23b94a5f3af9d9c5af1c09ee5e615017bdf6bd032301cb321c06c7e595d4b",
    "SQSBackend.get_queue_attributes": "58417223da457b5a0aac5ccc31b6646ed9b22c3b276a0f0d9fd5f3f13bd797ec",
    "Queue.attributes": "40cb990b121628d535cecbcd0e0d333984024633b70a097489ae8611e1a59338",
    "Queue.messages": "03a531dbcbcf9aee2e61c7254c08946a499f5c57f2447a8f2e534aa85b067dea",
    "Queue.approximate_number_of_messages_not_visible": "5dbecc4dda174358d2aefa96e4b769def47fd6bb2c315241c451e8518c3fabab",
    "Queue.approximate_number_of_messages_delayed": "c3c1dadb0c42ed5f8f5e1fddc8384de67db2df9a4055504f10903bd0b55e8d2f",
    "Message.visible": "5129b573308de62a700c40541df76673710ff2303258839ac66990eb56f27f27",
    "Message.delayed": "e2fd48abf582683aa4630cbd95daef06deb9f6de33e002a89f8c3d8a3f334838",
    "Queue.delete_message": "fa6fd5b9bd2cafb4aaacd79da7fc656e513e1513197c2939ff002f9ebfd4be46",
    "Queue.add_message": "f27c9231c1f2043382bc1435c4dfbab7b645389df642f050d9dda477f6535c35",
}

# The one expression send_message builds the whole attribute dict for.
SLOW_DEDUP_READ = 'queue.attributes.get("ContentBasedDeduplication")'


def _original(qualified_name):
    class_name, attribute = qualified_name.split(".")
    try:
        value = getattr(getattr(sqs_models, class_name), attribute)
    except AttributeError as missing:
        sys.exit(f"moto_fast: moto.sqs.models.{qualified_name} is gone ({missing}); revisit the patch")
    return value.fget if isinstance(value, property) else value


def _check_sources():
    for name, expected in EXPECTED_SOURCES.items():
        source = inspect.getsource(_original(name))
        if hashlib.sha256(source.encode()).hexdigest() != expected:
            sys.exit(f"moto_fast: moto.sqs.models.{name} is not moto 5.2.5's; revisit the patch")


def _as_attribute(value):
    # As Queue.attributes presents a value: bools as lower-case strings, anything else unchanged.
    return str(value).lower() if isinstance(value, bool) else value


def _content_based_deduplication(queue):
    """queue.attributes.get("ContentBasedDeduplication"), without building the dict."""
    if not queue.fifo_queue:
        return None
    return _as_attribute(queue.content_based_deduplication)


def is_message_valid_based_on_retention_period(self, queue_name, message):
    """The original, with get_queue_attributes(queue_name, ["MessageRetentionPeriod"]) read directly."""
    queue = self.get_queue(queue_name)
    retention_period = _as_attribute(queue.message_retention_period)
    if retention_period is None:
        # get_queue_attributes leaves out None values, so the original's lookup fails here.
        raise KeyError("MessageRetentionPeriod")
    retain_until = retention_period + message.sent_timestamp / 1000
    if retain_until <= sqs_models.unix_time():
        return False
    return True


def _fast_send_message():
    # send_message's own source with the one slow expression replaced, compiled in its module.
    lines, first_line = inspect.getsourcelines(_original("SQSBackend.send_message"))
    # Blank lines in front keep tracebacks pointing at moto's own lines.
    source = "\n" * (first_line - 1) + textwrap.dedent("".join(lines))
    if source.count(SLOW_DEDUP_READ) != 1:
        sys.exit("moto_fast: SQSBackend.send_message changed; revisit the patch")
    source = source.replace(SLOW_DEDUP_READ, "_moto_fast_content_based_deduplication(queue)")
    # Its globals are moto's module itself (so it sees what the original sees), plus the one helper.
    sqs_models._moto_fast_content_based_deduplication = _content_based_deduplication
    defined = {}
    exec(compile(source, sqs_models.__file__, "exec"), vars(sqs_models), defined)
    return defined["send_message"]


# Message.visible is `now > visible_at` and Message.delayed is `now < delayed_until`, each with its own
# reading of moto's clock: the scans below read it once.


def messages(self):
    """Queue.messages: the visible messages that are not delayed."""
    now = sqs_models.unix_time_millis()
    return [m for m in self._messages if now > m.visible_at and not now < m.delayed_until]


def approximate_number_of_messages_not_visible(self):
    now = sqs_models.unix_time_millis()
    return sum(1 for m in self._messages if not now > m.visible_at)


def approximate_number_of_messages_delayed(self):
    now = sqs_models.unix_time_millis()
    return sum(1 for m in self._messages if now < m.delayed_until)


def _locked_delete_message():
    original = _original("Queue.delete_message")

    def delete_message(self, receipt_handle):
        """Queue.delete_message under the lock add_message appends under (a Condition's RLock)."""
        with self._messages_lock:
            return original(self, receipt_handle)

    return delete_message


def patch():
    _check_sources()
    sqs_models.Queue.delete_message = _locked_delete_message()
    sqs_models.SQSBackend.send_message = _fast_send_message()
    sqs_models.SQSBackend.is_message_valid_based_on_retention_period = is_message_valid_based_on_retention_period
    sqs_models.Queue.messages = property(messages)
    sqs_models.Queue.approximate_number_of_messages_not_visible = property(
        approximate_number_of_messages_not_visible
    )
    sqs_models.Queue.approximate_number_of_messages_delayed = property(approximate_number_of_messages_delayed)


if __name__ == "__main__":
    patch()
    sys.exit(main(sys.argv[1:]))
