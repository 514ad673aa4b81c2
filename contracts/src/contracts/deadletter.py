"""What a dead-letter record carries besides the original record: `dlq-*` headers.

The value of a dead letter is the original value sealed to the operators' public key (a
rejected record may be anything, identity in clear included); the key and the original
headers are kept as they were, so the replay tool can put the record back on its topic.
"""

from __future__ import annotations

REASON = "dlq-reason"
ERROR = "dlq-error"
CONSUMER = "dlq-consumer"
ORIGINAL_TOPIC = "dlq-original-topic"
ORIGINAL_PARTITION = "dlq-original-partition"
ORIGINAL_OFFSET = "dlq-original-offset"
FAILED_AT = "dlq-failed-at"
SEALED = "dlq-sealed"

HEADERS: dict[str, str] = {
    REASON: "Why: malformed, unknown_type, wrong_topic, contract_violation, rejected, "
    "handler_error.",
    ERROR: "The error, e.g. `field.path: message` for each contract violation.",
    CONSUMER: "The consumer (service subscription) that gave up on the record.",
    ORIGINAL_TOPIC: "Topic the record was read from.",
    ORIGINAL_PARTITION: "Its partition (decimal).",
    ORIGINAL_OFFSET: "Its offset (decimal).",
    FAILED_AT: "When it was dead-lettered (ISO 8601).",
    SEALED: "How the value is kept: `pk1` means the original value sealed to the operators' "
    "dead-letter public key (only the replay tool opens it).",
}
