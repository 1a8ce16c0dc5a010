"""The bot's state: the engine, the Slack clients, the outbox, and a bounded pool for slow work.

Listeners run in Bolt's small listener pool and must return quickly: they parse, ack, and hand
anything that touches Docker or may take long to `Bot.submit`, which runs it in the bot's own
bounded pool (the engine then runs the docker work in its own workers).
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Iterable
from concurrent.futures import ThreadPoolExecutor

from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError
from slack_sdk.http_retry.builtin_handlers import ConnectionErrorRetryHandler, RateLimitErrorRetryHandler

from stacks.config import Settings
from stacks.engine import Actor, Engine, StackEvent
from stacks.errors import ConfigError, YadockeriError
from stacks.store import DeploymentRecord

from .asker import Asker
from .blocks.deployment import interrupted_note, notice_line, owner_to_tell
from .gate import AckFirst
from .outbox import MessageRef, Outbox
from .outbox_journal import Journal
from .people import Names
from .prompts import OpenPrompts
from .prompts import topic as prompt_topic
from .seen import SeenKeys
from .text import error_text, outside_link, who

log = logging.getLogger(__name__)

WORKERS = 4  # threads for engine calls and answers; few, so that acks keep the GIL when they need it
URGENT_WORKERS = 4
MAX_PENDING = 500
BUSY = ":hourglass: yadockeri is very busy right now; try again in a minute."


def make_client(settings: Settings, *, retries: bool = True, timeout: int = 15) -> WebClient:
    """A Web API client for the bot token; SLACK_API_URL, when set, is the API's base URL."""
    if settings.slack_bot_token is None:
        raise ConfigError("SLACK_BOT_TOKEN is not set: the bot needs its xoxb- token")
    kwargs: dict = {"token": settings.slack_bot_token.get_secret_value(), "timeout": timeout}
    if settings.slack_api_url:
        kwargs["base_url"] = settings.slack_api_url.rstrip("/") + "/"
    kwargs["retry_handlers"] = [ConnectionErrorRetryHandler(), RateLimitErrorRetryHandler(max_retry_count=2)] \
        if retries else []
    return WebClient(**kwargs)


class Bot:
    def __init__(self, engine: Engine, settings: Settings | None = None, *, workers: int = WORKERS,
                 max_pending: int = MAX_PENDING) -> None:
        self.engine = engine
        self.settings = settings or engine.settings
        self.client = make_client(self.settings)  # answers, views, files: 429s retried after Retry-After
        self.gate = AckFirst()
        self.outbox = Outbox(make_client(self.settings, retries=False), upload_client=self.client,
                             before_send=self.gate.wait, journal=Journal(engine.store), on_tagged=self.message_posted)
        self.names = Names(make_client(self.settings, retries=False, timeout=5))  # people named, not pinged
        self.prompts = OpenPrompts(self.outbox)  # the copies of each Keep warning, replaced once used
        # event_ids acted on: Slack retries a delivery it thinks we missed (kept: a restart forgets none)
        self.seen_events = SeenKeys(first_time=engine.store.first_time)
        self._pool = ThreadPoolExecutor(max_workers=workers, thread_name_prefix="yadockeri-bot")
        # modals: their trigger_id lives 3 s, so they never queue behind slow work
        self._urgent = ThreadPoolExecutor(max_workers=URGENT_WORKERS, thread_name_prefix="yadockeri-modal")
        self._slots = threading.BoundedSemaphore(max_pending)
        self._notices = ThreadPoolExecutor(max_workers=1, thread_name_prefix="yadockeri-notices")
        self._started = False

    # Life cycle -------------------------------------------------------------------------------
    def start(self, interrupted: Iterable[DeploymentRecord] = ()) -> None:
        """Start posting, listen to the engine's stack events, and say which deployments a
        restart interrupted (engine.start() returned them) in their stacks' threads."""
        if self._started:
            return
        self._started = True
        self.outbox.start()
        self.engine.add_listener(self.on_event)
        for deployment in interrupted:
            self.on_event(StackEvent("interrupted", deployment.stack, deployment.requested_by,
                                     deployment.error, deployment))

    def close(self) -> None:
        self._notices.shutdown(wait=True, cancel_futures=False)
        self._urgent.shutdown(wait=True, cancel_futures=False)
        self._pool.shutdown(wait=True, cancel_futures=False)
        self.names.close()
        self.outbox.stop()

    # Access -----------------------------------------------------------------------------------
    def actor(self, user_id: str) -> Actor:
        return Actor(id=user_id, source="slack", admin=user_id in self.settings.admin_ids)

    def channel_allowed(self, channel_id: str | None, *, notices: bool = False) -> bool:
        """YADOCKERI_CHANNELS empty: everywhere. Else only there (never the App Home). With `notices`,
        the notify channel too: the buttons of the bot's own notices there (Keep) must work."""
        if notices and channel_id is not None and channel_id == self.settings.notify_channel:
            return True
        allowed = self.settings.channel_ids
        return not allowed or (channel_id is not None and channel_id in allowed)

    def refusal(self) -> str:
        where = ", ".join(f"<#{c}>" for c in sorted(self.settings.channel_ids))
        return f":no_entry: yadockeri works in {where} only: use `/yadockeri` there."

    # Work -------------------------------------------------------------------------------------
    def submit(self, asker: Asker, function: Callable[..., None], *args: object, urgent: bool = False) -> bool:
        """Run function(self, asker, *args) in the bot's pool (urgent: in the one that opens modals, whose
        trigger_id lives 3 s), once requests in flight are acked; engine errors become answers."""
        if not self._slots.acquire(blocking=False):
            asker.tell(BUSY)
            return False
        try:
            (self._urgent if urgent else self._pool).submit(self._guarded, asker, function, args)
        except RuntimeError:  # shutting down
            self._slots.release()
            asker.tell(BUSY)
            return False
        return True

    def _guarded(self, asker: Asker, function: Callable[..., None], args: tuple) -> None:
        try:
            self.gate.wait()
            function(self, asker, *args)
        except YadockeriError as error:
            asker.tell(f":warning: {error_text(error)}")
        except SlackApiError as error:
            log.warning("Slack refused %s: %s", getattr(function, "__name__", function), error.response.get("error"))
            asker.tell(f":warning: Slack refused that ({error_text(str(error.response.get('error')))}); try again.")
        except Exception as error:  # a bug: a line for the user, the trace in the bot's log
            log.exception("%s failed", getattr(function, "__name__", function))
            asker.tell(f":boom: internal error ({type(error).__name__}); the details are in yadockeri's log.")
        finally:
            self._slots.release()

    # Threads ----------------------------------------------------------------------------------
    def message_posted(self, tag: dict, ref: MessageRef, top_level: bool) -> None:
        """A deployment's message exists (perhaps posted after a restart): remember where."""
        if isinstance(tag.get("deployment"), int):
            self.engine.set_deployment_message(tag["deployment"], str(ref))
        if isinstance(tag.get("thread_of"), str) and top_level:
            self.engine.set_thread(tag["thread_of"], str(ref))

    def thread_of(self, stack: str) -> MessageRef | None:
        try:
            return MessageRef.parse(self.engine.stack(stack).thread)
        except YadockeriError:
            return None

    def link_to(self, message: MessageRef, label: str = "the stack's thread") -> str:
        """A link to a message (chat.getPermalink; from the pool, it asks Slack), or to its channel."""
        try:
            permalink = self.client.chat_getPermalink(channel=message.channel, message_ts=message.ts).get("permalink")
        except SlackApiError as error:
            log.info("no permalink of %s: %s", message, error.response.get("error"))
            permalink = None
        return outside_link(permalink if isinstance(permalink, str) else None, label) or f"<#{message.channel}>"

    # Stack events (called from the engine's threads: only queue things) -------------------------
    def on_event(self, event: StackEvent) -> None:
        deployment = event.deployment
        notify = self.settings.notify_channel
        if event.kind == "warned":
            self.submit(Asker(self, event.actor, None, surface="event"), _announce_warning, event)
            return
        if notify:
            try:  # one at a time, in order, off the engine's thread: the names it shows may be asked of Slack
                self._notices.submit(_post_notice, self, notify, event)
            except RuntimeError:  # shutting down
                log.info("no notice of %s %s: the bot is stopping", event.kind, event.stack)
        if event.kind == "interrupted" and deployment is not None:
            self.submit(Asker(self, event.actor, None, surface="event"), _announce_interrupted, deployment)
        if event.kind == "rolled-back":  # the thread said "live": it must hear this too, and the requester with it
            thread = self.thread_of(event.stack)
            if thread is not None:
                self.outbox.say(thread.channel, notice_line(event.kind, event.stack, event.actor, event.detail,
                                                            deployment.id if deployment else None, by=who(event.actor)),
                                thread_ts=thread.ts)
        if event.kind in ("kept", "reaped", "destroyed") and self.prompts.has(event.stack):  # its warning is moot
            self.submit(Asker(self, event.actor, None), _settle_warning, event)
        if event.kind == "reaped" and event.thread:
            thread = MessageRef.parse(event.thread)
            if thread is not None:
                self.outbox.say(thread.channel, notice_line(event.kind, event.stack, event.actor, None, None),
                                thread_ts=thread.ts)


def _post_notice(bot: Bot, channel: str, event: StackEvent) -> None:
    """The notify channel's line: the actor named (never pinged for what they did), the owner
    mentioned when someone else did it to their stack, the pull request linked."""
    try:
        bot.gate.wait()
        line = notice_line(event.kind, event.stack, event.actor, event.detail,
                           event.deployment.id if event.deployment else None, by=bot.names.of(event.actor),
                           owner=owner_to_tell(event.kind, event.actor, event.owner))
        pull = outside_link(bot.engine.pull_request_url(event.stack), "pull request")
        bot.outbox.say(channel, line + (f" · {pull}" if pull else ""))
    except Exception:  # a bug: logged; the next notice still goes
        log.exception("the notice of %s %s failed", event.kind, event.stack)


def _announce_warning(bot: Bot, asker: Asker, event: StackEvent) -> None:
    """In the stack's thread and the notify channel (there mentioning its owner): it will be reaped,
    with Keep buttons. Both copies are remembered: once the stack is kept or gone, both say so."""
    from .blocks.common import as_dicts
    from .blocks.deployment import warning_message

    reaped_in = bot.engine.next_for(bot.engine.stack(event.stack))
    copies = []
    thread = bot.thread_of(event.stack)
    if thread is not None:
        text, blocks = warning_message(event.stack, event.detail, reaped_in)
        copies.append(bot.outbox.say(thread.channel, text, as_dicts(blocks), thread_ts=thread.ts,
                                     topic=prompt_topic(event.stack)))
    if bot.settings.notify_channel:
        text, blocks = warning_message(event.stack, event.detail, reaped_in,
                                       owner=owner_to_tell(event.kind, event.actor, event.owner))
        copies.append(bot.outbox.say(bot.settings.notify_channel, text, as_dicts(blocks),
                                     topic=prompt_topic(event.stack)))
    bot.prompts.remember(event.stack, copies)


def _settle_warning(bot: Bot, asker: Asker, event: StackEvent) -> None:
    """Every copy of the stack's Keep warning becomes what happened: who kept it until when, or its end."""
    from .blocks.common import as_dicts
    from .blocks.deployment import kept_message, kept_time, settled_warning

    by = bot.names.of(event.actor)
    try:
        text, blocks = kept_message(event.stack, by, kept_time(event.detail)) if event.kind == "kept" else \
            settled_warning(notice_line(event.kind, event.stack, event.actor, None, None, by=by))
    except ValueError:  # a `kept` detail that is no time: the notice's words
        text, blocks = settled_warning(notice_line(event.kind, event.stack, event.actor, event.detail, None, by=by))
    bot.prompts.settle(event.stack, lambda: (text, as_dicts(blocks)))


def _announce_interrupted(bot: Bot, asker: Asker, deployment: DeploymentRecord) -> None:
    """Say so in the stack's thread, and mark the deployment's own message."""
    from .blocks.common import as_dicts
    from .blocks.deployment import Progress, progress_message

    message = MessageRef.parse(deployment.message)
    progress = Progress(deployment.id, deployment.stack, deployment.kind, deployment.branch,
                        deployment.requested_by, state="interrupted")
    text, blocks = progress_message(progress)
    kept = bot.outbox.tagged("deployment", deployment.id)  # kept from before the restart, not delivered yet
    replaced = kept is not None and kept.replace(lambda: (text, as_dicts(blocks)))
    ref = message or (kept.ref if kept is not None else None)
    if not replaced and ref is not None:
        bot.outbox.update(ref, lambda: (text, as_dicts(blocks)))
    note = interrupted_note(deployment.stack, deployment.kind, deployment.id, deployment.requested_by)
    thread = bot.thread_of(deployment.stack) or ref
    if thread is not None:
        bot.outbox.say(thread.channel, note, thread_ts=thread.ts)
    elif kept is not None:  # its message is not posted yet: the note goes under it once it is
        bot.outbox.say(kept.channel, note, parent=kept)
