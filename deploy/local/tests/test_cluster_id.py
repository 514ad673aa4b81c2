import base64
import uuid
from unittest import mock

from localrun import kafka


def test_a_cluster_id_is_16_bytes_of_base64url() -> None:
    cluster_id = kafka._kafka_uuid()
    assert len(cluster_id) == 22
    assert len(base64.urlsafe_b64decode(cluster_id + "==")) == 16


def test_a_cluster_id_never_starts_with_a_dash_the_storage_tool_would_read_as_an_option() -> None:
    # 0xF8 as the first byte encodes to "-" in base64url; the next draw must be taken instead.
    dash_first = uuid.UUID(bytes=b"\xf8" + bytes(15))
    plain = uuid.UUID(bytes=b"\x10" + bytes(15))
    assert base64.urlsafe_b64encode(dash_first.bytes).decode().startswith("-")
    with mock.patch.object(kafka.uuid, "uuid4", side_effect=[dash_first, plain]):
        cluster_id = kafka._kafka_uuid()
    assert not cluster_id.startswith("-")
    assert base64.urlsafe_b64decode(cluster_id + "==") == plain.bytes
