# The C module gateway/speedups.c (optional: gateway.listener falls back to gateway.frames).
from picows import WSMsgType

from gateway.session import Outgoing

def frames_buffer(msg_type: WSMsgType | int, out: Outgoing, /) -> tuple[bytes, int]: ...
