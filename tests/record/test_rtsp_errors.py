import errno

import av
import pytest

from nvrd.record.rtsp_errors import describe_stream_error

URL = "rtsp://admin:s3cret@10.0.0.7:554/Streaming/101"


def describe(exc: BaseException, idle_s: float | None = None) -> str:
    return describe_stream_error(exc, open_timeout_s=10, stall_timeout_s=5, idle_s=idle_s)


@pytest.mark.parametrize(("exc", "words"), [
    (av.error.HTTPUnauthorizedError(-1, "Server returned 401 Unauthorized", URL),
     "user name or password"),
    (av.error.HTTPNotFoundError(-1, "Server returned 404 Not Found", URL), "check the path"),
    (av.error.ConnectionRefusedError(errno.ECONNREFUSED, "Connection refused", URL),
     "camera off, wrong address or wrong RTSP port"),
    (av.error.ExitError(-1, "Immediate exit requested", URL), "did not answer within 10 s"),
    (av.error.InvalidDataError(-1, "Invalid data found when processing input", URL),
     "not a valid RTSP/RTP stream"),
])
def test_explains_the_cause_without_the_password(exc: BaseException, words: str) -> None:
    text = describe(exc)
    assert words in text
    assert "s3cret" not in text


def test_a_silence_past_the_stall_limit_is_the_cause_whatever_ffmpeg_says() -> None:
    # FFmpeg's read timeout surfaces as EIO or as an exit request, depending on timing
    for exc in (av.error.OSError(errno.EIO, "Input/output error", URL),
                av.error.ExitError(-1, "Immediate exit requested", URL)):
        assert describe(exc, idle_s=6.2) == "no video from the camera for 6 s"
    assert "s3cret" not in describe(av.error.OSError(errno.EIO, "Input/output error", URL),
                                     idle_s=0.1)
