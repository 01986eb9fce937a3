"""Team Chat delivery (opt-in, `BRIDGE_CHAT_*`): each objection hint to the host (or a channel) while the meeting
is on, and the final summary with the meeting's tickets to a channel at its end, through Zoom's chatbot API.

* `wire`: the wire format, sans I/O: the client-credentials token request and answer, the message body
  (`robot_jid`, `to_jid`, `account_id`, `content.head` / `content.body`), the send answer (`message_id`), and how
  to read an error (429 with `Retry-After` / `X-RateLimit-*`, 401, 5xx) into a decision.
* `client`: `ChatClient`, the HTTP side: token cached until it nearly expires, retries with backoff, rate limits
  honoured, URLs limited to Zoom's hosts unless configured otherwise.
* `delivery`: `ChatDeliverer`, what to send and when: it reads the store (not only the live bus) so a restart or a
  second replica neither loses a message nor sends one twice; every message has an idempotency key recorded in the
  store's `chat_deliveries` before it goes out.
"""

from bridge.teamchat.client import ChatClient, ChatSendError
from bridge.teamchat.delivery import ChatDeliverer

__all__ = ["ChatClient", "ChatDeliverer", "ChatSendError"]
