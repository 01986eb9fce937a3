"""Objection Detector: spots sales objections in what the customer says and suggests what the seller says next.

Guided by an editable playbook of battle cards (category, cue phrases, recommended response). The model is asked
only about the customer side: the window's new utterances of guests (not the host, nor anyone the lead marks as
internal), with the few lines before them as context. The instructions, playbook and worked examples form one
system prompt that stays byte-identical for a whole meeting, sent with a cache marker so a model that caches
(Anthropic) reads it at a tenth of the price after the first call. The model answers through one forced tool
(`report_objections`); each objection is checked against the window (its quote must come from a new customer
utterance), keyed, filtered by confidence and by what was already raised, so none is repeated.
Self-contained (lfx and the standard library only): this file is embedded in flows as-is.
"""

from __future__ import annotations

import hashlib
import json
import re
from typing import Any

from lfx.custom.custom_component.component import Component
from lfx.io import BoolInput, DataInput, FloatInput, HandleInput, IntInput, MultilineInput, Output, TableInput
from lfx.schema.data import Data
from lfx.schema.table import EditMode

STAGE = "objection_detector"

DEFAULT_INSTRUCTIONS = """You are a sales coach listening to a live call. Find the objections the customer raises \
in the NEW utterances: concerns about price, competitors, timing, authority to buy, need, trust in the vendor, \
security and compliance, integration effort, contract terms, or anything else that stands between them and buying. \
Lines marked |internal are the seller's side: never objections, only context.

For each objection give: quote (the exact words from one new utterance) and its utterance_id; category (the best \
playbook category, or a short new one if none fits); confidence (0 to 1, how sure you are it is a real objection); \
suggested_reply (one or two sentences the seller could say next, following the card's response).

Never report an objection listed in raised_objections or one that only restates it. Small talk, questions asked \
out of interest and agreement are not objections. Report an empty list when there are none."""

DEFAULT_PLAYBOOK = [
    {
        "category": "price",
        "cues": "too expensive, over budget, out of our budget, can't afford, costs too much, price, pricing, cheaper",
        "response": "Acknowledge it, then reframe on value: ask what they compare the price against, quantify the "
        "cost of the problem, and offer a phased rollout before any discount.",
    },
    {
        "category": "competitor",
        "cues": "already use, already using, currently using, competitor, other vendors, looking at, switching from",
        "response": "Don't disparage the other tool. Ask what works and what falls short today, then differentiate "
        "on those gaps with a customer proof point.",
    },
    {
        "category": "timing",
        "cues": "not the right time, next quarter, next year, too busy, not a priority, revisit, freeze",
        "response": "Ask what would make it a priority and what waiting costs them; propose a small pilot that "
        "fits their calendar.",
    },
    {
        "category": "authority",
        "cues": "check with, run it by, my boss, sign off, approval, procurement, decision maker, the board",
        "response": "Map the decision: who else is involved and what do they need to see? Offer material for the "
        "approver or a short call with them.",
    },
    {
        "category": "need",
        "cues": "don't need, works fine, happy with, not sure we need, good enough, spreadsheet",
        "response": "Probe for pain: when did the current way last fail, and what did that cost? Tie the product to "
        "that moment.",
    },
    {
        "category": "security",
        "cues": "security, compliance, GDPR, SOC 2, HIPAA, data residency, privacy, audit",
        "response": "Take it seriously: offer the security pack (SOC 2 report, DPA, residency options) and a call "
        "with the security team; ask for their questionnaire.",
    },
    {
        "category": "trust",
        "cues": "never heard of, track record, references, case study, too risky, will you be around, startup",
        "response": "Reduce the risk: offer two reference customers in their industry, a case study with numbers, "
        "and the terms that protect them (SLA, data export, escrow).",
    },
    {
        "category": "integration",
        "cues": "integrate, integration, doesn't support, compatible, migration, implementation, too complex",
        "response": "Scope the effort: which systems matter? Show the existing connector or API and offer a dated "
        "implementation plan with named owners.",
    },
    {
        "category": "contract",
        "cues": "lock-in, long contract, multi-year, cancel, commitment",
        "response": "Lower the risk: offer a shorter initial term, an exit clause, or a paid pilot with agreed "
        "success criteria.",
    },
]

# Words that signal doubt or resistance whatever the topic (only for the opt-in cue gate).
DEFAULT_GENERAL_CUES = (
    "concern, concerned, worried, worry, hesitant, skeptical, not sure, don't think, problem, issue, risk, "
    "expensive, cost, budget, afford, contract, deal breaker, dealbreaker, non-starter, showstopper"
)


class ObjectionDetectorComponent(Component):
    display_name = "Objection Detector"
    description = "Finds sales objections in what the customer says and suggests replies from an editable playbook."
    icon = "shield-alert"
    name = "RTMSObjectionDetector"

    inputs = [
        DataInput(
            name="window",
            display_name="Window",
            info="The Transcript Window component's Window output.",
            input_types=["Data", "JSON"],
            required=True,
        ),
        HandleInput(
            name="llm",
            display_name="Language Model",
            info="Any chat model node's Language Model output (Anthropic, OpenAI, Ollama, ...).",
            input_types=["LanguageModel"],
            required=True,
        ),
        MultilineInput(name="instructions", display_name="Instructions", value=DEFAULT_INSTRUCTIONS),
        TableInput(
            name="playbook",
            display_name="Playbook",
            info="Battle cards: an objection category, cue phrases (comma-separated) and the recommended response.",
            table_schema=[
                {"name": "category", "display_name": "Category", "type": "str", "edit_mode": EditMode.INLINE},
                {"name": "cues", "display_name": "Cue phrases", "type": "str", "edit_mode": EditMode.POPOVER},
                {
                    "name": "response",
                    "display_name": "Recommended response",
                    "type": "str",
                    "edit_mode": EditMode.POPOVER,
                },
            ],
            value=DEFAULT_PLAYBOOK,
        ),
        MultilineInput(
            name="internal_side",
            display_name="Internal side",
            info="Who is on the seller's side besides the host: comma-separated names or parts of names (e.g. "
            "'Tom Okafor, (Harborline)'), matched case-insensitively. Their words are never analysed, only shown as "
            "context; a window with nothing new from the customer side does not ask the model.",
            value="",
        ),
        IntInput(
            name="context_lines",
            display_name="Context lines",
            info="Utterances before the customer's new words sent along so they can be understood (each cut to its "
            "last 200 characters). More lines: better understanding, more tokens per call.",
            value=1,
        ),
        BoolInput(
            name="cache_prompt",
            display_name="Cache the instructions",
            info="Send the instructions, playbook and 20 worked examples as one cached block (Anthropic prompt "
            "caching). Claude Haiku 4.5 caches only blocks of 4,096 tokens or more: the examples bring the block over "
            "it, and a cached read costs a tenth, so from about a dozen calls an hour it is cheaper than a short "
            "uncached prompt, and the examples make answers better. Switch off for meetings with few customer turns "
            "(more than 5 minutes apart each call pays the cache write, 1.25x) or for models without caching: the "
            "prompt is then the instructions and playbook alone, without examples.",
            value=True,
        ),
        IntInput(
            name="min_customer_chars",
            display_name="Minimum customer characters",
            info="Ask the model only when the new customer utterances hold at least this many characters together "
            "(1: whenever the customer said anything). The bridge's turn trigger (flows.toml) decides when windows "
            "are sent; this is the last check before paying for a call.",
            value=1,
            advanced=True,
        ),
        BoolInput(
            name="ask_only_on_cue",
            display_name="Ask the model only on a cue",
            info="Ask the model only when the customer says a cue phrase (a card's or a general one): several times "
            "fewer calls, but an objection worded with none of the cue phrases is not looked for (on the bundled "
            "sales call 7 of 16 were still found). Off: every window with customer words is asked.",
            value=False,
            advanced=True,
        ),
        MultilineInput(
            name="general_cues",
            display_name="General cue phrases",
            info="With 'Ask the model only on a cue': comma-separated words that hint at an objection of any "
            "category (concerns, hedges). Matched case-insensitively on whole words.",
            value=DEFAULT_GENERAL_CUES,
            advanced=True,
        ),
        FloatInput(
            name="min_confidence",
            display_name="Minimum confidence",
            info="Objections the model is less sure about than this (0-1) are dropped.",
            value=0.5,
        ),
        IntInput(name="max_objections", display_name="Max objections per window", value=5, advanced=True),
        BoolInput(
            name="use_tool_calling",
            display_name="Use tool calling",
            info="Ask for a forced tool call; switch off for models without tool support (JSON text is parsed).",
            value=True,
            advanced=True,
        ),
    ]
    outputs = [Output(display_name="Objections", name="objections", method="detect_objections")]

    async def detect_objections(self) -> Data:
        window = _window_from(self.window)
        internal = _internal_ids(window, self.internal_side or "")
        new = [u for u in window["utterances"] if u["user_id"] not in internal]
        playbook = playbook_rows(self.playbook) or playbook_rows(DEFAULT_PLAYBOOK)
        raised = window["state"]["raised_objections"]
        result: dict[str, Any] = {"kind": "objections", "objections": [], "errors": [], "usage": None}
        spoken = sum(len(u["text"].strip()) for u in new)
        if not new or spoken < max(1, int(self.min_customer_chars or 0)):
            self.status = f"{spoken} new customer character(s) in {len(window['utterances'])} utterance(s): not asked"
            return Data(data=result)
        if self.ask_only_on_cue:
            texts = [u["text"].lower().replace("\u2019", "'") for u in new]
            cues = [cue for row in playbook for cue in row["cues"]] + re.split(r"[,;\n]", self.general_cues or "")
            if not _said(cues, texts):
                self.status = f"no cue phrase in {len(new)} new customer utterance(s): model not asked"
                return Data(data=result)
        earlier = [*window["context"], *window["utterances"]]
        before = earlier[: next(i for i, u in enumerate(earlier) if u is new[0])]
        context = before[-int(self.context_lines) :] if int(self.context_lines or 0) > 0 else []
        data = {
            "task": "objections",
            "meeting": {"product": window["meeting"]["product"], "topic": window["meeting"]["topic"]},
            "raised_objections": [
                {"category": o["category"], "quote": o["quote"][:QUOTE_CHARS]} for o in raised[-RAISED_SENT:]
            ],
        }
        request = _request(
            data, [_line(u, internal) for u in new], [_line(u, internal, CONTEXT_CHARS) for u in context]
        )
        cache = bool(self.cache_prompt)
        system = system_prompt(self.instructions or DEFAULT_INSTRUCTIONS, playbook, examples=cache)
        answer, errors, usage = await _ask_model(
            self, STAGE, system, request, TOOL, bool(self.use_tool_calling), cache=cache
        )
        result["usage"] = usage
        by_category = {row["category"].lower(): row for row in playbook}
        raised_keys = {o["key"] for o in raised}
        found: list[dict[str, Any]] = []
        skipped = 0
        for item in _objects(answer, "objections", STAGE, errors) if answer is not None else []:
            try:
                category = _text_field(item, "category")
                quote = _text_field(item, "quote")
                confidence = item.get("confidence")
                if isinstance(confidence, bool) or not isinstance(confidence, int | float) or not 0 <= confidence <= 1:
                    raise ValueError(f"confidence must be a number from 0 to 1, got {confidence!r}")
                reply = _text_field(item, "suggested_reply", required=False)
            except ValueError as exc:
                errors.append(_error(STAGE, f"objection dropped: {exc}", item))
                continue
            card = by_category.get(category.lower())
            category = card["category"] if card else category
            source = _find_utterance(quote, item.get("utterance_id"), new)
            if source is None:
                errors.append(_error(STAGE, "objection dropped: its quote is not in the new customer utterances", item))
                continue
            key = _stable_key("obj", window["meeting"]["id"], category.lower(), source["id"])
            repeated = key in raised_keys or any(
                o["category"].lower() == category.lower() and _similar(o["quote"], quote) >= 0.6
                for o in [*raised, *found]
            )
            if repeated or confidence < float(self.min_confidence or 0):
                skipped += 1
                continue
            found.append(
                {
                    "key": key,
                    "category": category,
                    "quote": quote,
                    "speaker": source["speaker"],
                    "at_ms": source["start_ms"],
                    "confidence": float(confidence),
                    "suggested_reply": reply or (card["response"] if card else ""),
                }
            )
        limit = int(self.max_objections or 0)
        result["objections"] = found[:limit] if limit > 0 else found
        result["errors"] = errors
        self.status = (
            f"{len(result['objections'])} objection(s) in {len(new)} customer utterance(s)"
            + (f", {skipped} repeated or below confidence" if skipped else "")
            + (f", {len(errors)} problem(s): {errors[0]['message']}" if errors else "")
            + (f"; cache read {usage['cache_read_tokens']} token(s)" if usage["cache_read_tokens"] else "")
        )
        return Data(data=result)


# --- what the component uses: the model's tool and the helpers (read the class above first) ---

RAISED_SENT = 4  # objections already raised that the model is shown (the newest; all are checked here)
QUOTE_CHARS = 60
CONTEXT_CHARS = 200  # of each context line, the last so many characters

EXAMPLES = """Worked examples. Each shows new utterances (with some context) and the report that fits them. They \
are examples
only: the people and companies in them are not in this meeting.

Example 1: a price objection worded without the word "price".
context:
[u-4|internal] Lena Ortiz: For three hundred seats the annual plan comes to about fifty-four thousand.
new:
[u-5] Raj Patel: Fifty-four for a scheduling tool. I was hoping we'd land somewhere around half that, to be \
honest.
report: {"objections":[{"category":"price","quote":"I was hoping we'd land somewhere around half \
that","utterance_id":"u-5","confidence":0.9,"suggested_reply":"That's useful to know. What are you comparing it \
against? If we look at the overtime the tool removes, most teams your size recover the cost in the first two \
quarters, and we can phase the seats in."}]}

Example 2: an interested question is not an objection.
new:
[u-9] Raj Patel: How does the mobile app behave when a technician has no signal in a basement?
report: {"objections":[]}

Example 3: timing, said as a calendar fact.
new:
[u-12] Mei Chen: We're in the middle of our fiscal close until the end of March, nobody here will look at a new \
system before April.
report: {"objections":[{"category":"timing","quote":"nobody here will look at a new system before \
April","utterance_id":"u-12","confidence":0.85,"suggested_reply":"Understood, close is no time for a rollout. \
Could we agree now on a small April pilot so your team starts the new quarter with it, and prepare the setup \
while you close?"}]}

Example 4: authority, named through a person rather than the word "approval".
new:
[u-20] Tomasz Nowak: I like it, but Karen owns the operations budget and she wasn't on this call.
report: {"objections":[{"category":"authority","quote":"Karen owns the operations budget and she wasn't on this \
call","utterance_id":"u-20","confidence":0.8,"suggested_reply":"Thanks for telling me. What will Karen want to \
see before she agrees? I can send a one-page summary with the numbers, or set up fifteen minutes with her this \
week."}]}

Example 5: a competitor mentioned as the current tool.
new:
[u-31] Aisha Bello: Honestly the team is pretty attached to ShiftBoard, they've had it for six years.
report: {"objections":[{"category":"competitor","quote":"the team is pretty attached to ShiftBoard, they've had \
it for six years","utterance_id":"u-31","confidence":0.8,"suggested_reply":"Six years is a long time, so it must \
do some things well. What does it do best for them, and where does it get in the way? That's where we usually \
make the difference."}]}

Example 6: the seller's own doubts are never objections.
new:
[u-40|internal] Lena Ortiz: I know our reporting module is a bit expensive, but let me show you the dashboard \
first.
report: {"objections":[]}

Example 7: need, said as contentment with the current way.
new:
[u-44] Mei Chen: Our dispatchers manage with the whiteboard and a shared calendar, and nobody complains.
report: {"objections":[{"category":"need","quote":"Our dispatchers manage with the whiteboard and a shared \
calendar, and nobody complains","utterance_id":"u-44","confidence":0.7,"suggested_reply":"That's fair. When did \
the whiteboard last let you down, a sick day or a rush week? What did that cost you in overtime or missed \
visits?"}]}

Example 8: security and compliance, in the customer's own terms.
new:
[u-52] Tomasz Nowak: Our patients' addresses would sit on your servers, and our compliance officer will want to \
know exactly where those servers are.
report: {"objections":[{"category":"security","quote":"our compliance officer will want to know exactly where \
those servers are","utterance_id":"u-52","confidence":0.85,"suggested_reply":"Absolutely. I'll send our security \
pack today, with the hosting regions, the SOC 2 report and our data processing agreement, and we can set up a \
call with our security lead and your compliance officer."}]}

Example 9: trust, from a bad experience with another vendor.
new:
[u-58] Aisha Bello: The last company that sold us software went quiet the day after we signed, so forgive me if \
I'm a bit wary.
report: {"objections":[{"category":"trust","quote":"The last company that sold us software went quiet the day \
after we signed","utterance_id":"u-58","confidence":0.85,"suggested_reply":"That's a fair worry. I can put you \
in touch with two customers your size who have been with us for years, and our contract names your support \
contact and response times."}]}

Example 10: integration, as a hard requirement.
new:
[u-63] Raj Patel: Everything we do runs through our own ERP, an old AS/400 system, and it has to stay the source \
of truth.
report: {"objections":[{"category":"integration","quote":"it has to stay the source of \
truth","utterance_id":"u-63","confidence":0.75,"suggested_reply":"Good to know early. Which records need to flow \
each way? We have customers syncing with older ERPs through flat-file exports, and I can show you how that would \
look for you."}]}

Example 11: contract terms.
new:
[u-70] Mei Chen: We'd want to be able to walk away after the first year without penalties.
report: {"objections":[{"category":"contract","quote":"We'd want to be able to walk away after the first year \
without penalties","utterance_id":"u-70","confidence":0.75,"suggested_reply":"That's reasonable. We can start \
with a one-year term and a clear exit clause, or a paid pilot with success criteria we agree on together."}]}

Example 12: an objection already raised earlier is not reported again, even in new words.
raised_objections: [{"category":"price","quote":"I was hoping we'd land somewhere around half that"}]
new:
[u-77] Raj Patel: Like I said, the number is still the sticking point for me.
report: {"objections":[]}

Example 13: two objections in one turn, each with its own quote.
new:
[u-81] Tomasz Nowak: It looks good, but we're locked into our current vendor until October, and even then I'd \
need the board to sign off.
report: {"objections":[{"category":"timing","quote":"we're locked into our current vendor until \
October","utterance_id":"u-81","confidence":0.8,"suggested_reply":"Thanks, that helps us plan. Shall we line up \
a small pilot that ends in October, so the switch is ready when your contract runs \
out?"},{"category":"authority","quote":"I'd need the board to sign \
off","utterance_id":"u-81","confidence":0.8,"suggested_reply":"Of course. What does the board usually want to \
see? We can prepare the business case with you before their meeting."}]}

Example 14: small talk and agreement raise nothing.
new:
[u-90] Aisha Bello: Sorry, my dog is barking at the delivery driver again.
[u-91] Raj Patel: Sure, that makes sense, go on with the demo.
report: {"objections":[]}

Example 15: a hedge that is about something else is not an objection.
new:
[u-95] Mei Chen: I'm not sure the link you sent works, I got an error page.
report: {"objections":[]}

Example 16: a concern outside the playbook gets a short new category.
new:
[u-99] Tomasz Nowak: My people are in their fifties and sixties, a new app on their phones is going to be a hard \
sell for them.
report: {"objections":[{"category":"adoption","quote":"a new app on their phones is going to be a hard sell for \
them","utterance_id":"u-99","confidence":0.75,"suggested_reply":"That's common and worth planning for. We run \
short on-site sessions for field teams, and the app has a large-text mode; could we start with two of your most \
sceptical technicians?"}]}

Example 17: a question that carries an objection is reported.
new:
[u-104] Aisha Bello: Why would we pay for this when our phone system already records every call?
report: {"objections":[{"category":"need","quote":"Why would we pay for this when our phone system already \
records every call?","utterance_id":"u-104","confidence":0.7,"suggested_reply":"Good question. Recordings tell \
you what happened after the fact; this helps your team while the call is still going. Could I show you the \
difference on one of your typical calls?"}]}

Example 18: budget that is simply not there this year.
new:
[u-110] Raj Patel: The money for this year is already spent, there just isn't a line for it until the new budget.
report: {"objections":[{"category":"price","quote":"there just isn't a line for it until the new \
budget","utterance_id":"u-110","confidence":0.8,"suggested_reply":"Thanks for being straight with me. When does \
the new budget get set, and what would you need from us to get a line in it? We could also look at starting \
smaller this year."}]}

Example 19: a long turn with only a description of today's process raises nothing.
new:
[u-115] Mei Chen: So every morning the coordinators print the list, split it by region, call each technician, \
and then update the sheet when someone calls in sick, which happens maybe twice a week.
report: {"objections":[]}

Example 20: a guest repeating the seller's point back is not objecting.
new:
[u-120] Tomasz Nowak: So if I follow you, the technicians see the route on their phones and the office sees \
where they are.
report: {"objections":[]}

Example 21: the same worry said twice in one turn is one objection.
new:
[u-126] Aisha Bello: I just don't know if we can afford it right now. We really can't afford surprises this year.
report: {"objections":[{"category":"price","quote":"I just don't know if we can afford it right \
now","utterance_id":"u-126","confidence":0.85,"suggested_reply":"Thanks for saying so. Would it help to start \
with the dispatch team only and add the other seats once you see the savings, with the price fixed for the first \
year?"}]}

Example 22: a request for references is a trust objection when it conditions the deal.
new:
[u-131] Raj Patel: Before we go any further I'd need to talk to somebody who has actually run this at a company \
our size.
report: {"objections":[{"category":"trust","quote":"I'd need to talk to somebody who has actually run this at a \
company our size","utterance_id":"u-131","confidence":0.75,"suggested_reply":"Of course. I'll arrange a call \
with the operations lead at a customer of your size this week; would Thursday work?"}]}

Example 23: context explains a short answer that is an objection.
context:
[u-135|internal] Lena Ortiz: Could we get the contract signed by Friday so you start on the first?
new:
[u-136] Mei Chen: Friday? No. Legal takes three weeks minimum for anything with customer data.
report: {"objections":[{"category":"timing","quote":"Legal takes three weeks minimum for anything with customer \
data","utterance_id":"u-136","confidence":0.8,"suggested_reply":"Thanks, let's plan around that. Could I send \
our data processing agreement to legal today, so the three weeks start now?"}]}

Example 24: a competitor named as a price anchor is reported once, in the category that matters most.
new:
[u-140] Tomasz Nowak: RoutePro quoted us eleven a user, so yours is hard to explain upstairs.
report: {"objections":[{"category":"competitor","quote":"RoutePro quoted us eleven a user, so yours is hard to \
explain upstairs","utterance_id":"u-140","confidence":0.85,"suggested_reply":"That's helpful context. What does \
the RoutePro quote include? Let's compare what your team gets for each, and I'll give you a one-page comparison \
you can take upstairs."}]}

Example 25: feature questions asked as blockers are objections.
new:
[u-145] Aisha Bello: If it can't handle Spanish for half my crew, it's really not going to fly here.
report: {"objections":[{"category":"need","quote":"If it can't handle Spanish for half my crew, it's really not \
going to fly here","utterance_id":"u-145","confidence":0.8,"suggested_reply":"Good that you raise it now. The \
technician app is available in Spanish today; could we include two of your Spanish-speaking technicians in the \
pilot to check it with them?"}]}

Example 26: a guest agreeing to a next step raises nothing, even with cue words.
new:
[u-150] Raj Patel: Sure, send the pricing over and I'll look at it with finance on Monday.
report: {"objections":[]}

Example 27: a concern about the effort of switching.
new:
[u-155] Mei Chen: Moving ten years of job history over sounds like a project in itself, and we have nobody spare \
to run it.
report: {"objections":[{"category":"integration","quote":"Moving ten years of job history over sounds like a \
project in itself, and we have nobody spare to run \
it","utterance_id":"u-155","confidence":0.8,"suggested_reply":"That's a real cost, so let us carry it: our \
onboarding team imports the history for you, and you only check a sample. Shall I put a date on that in the \
plan?"}]}

Example 28: a vague hesitation is reported with low confidence only when it is about buying.
new:
[u-160] Tomasz Nowak: Hmm. I'll be honest, I'm just not convinced yet.
report: {"objections":[{"category":"need","quote":"I'm just not convinced \
yet","utterance_id":"u-160","confidence":0.55,"suggested_reply":"That's fair, thank you for saying it. What \
would you need to see to be convinced? Let's make sure the next step answers exactly that."}]}

Example 29: two guests, one objection each; the second builds on the first but raises a new concern.
new:
[u-165] Raj Patel: The per-seat price is fine for the office staff.
[u-166] Mei Chen: For the seasonal technicians though, paying all year for people who work four months makes no \
sense to us.
report: {"objections":[{"category":"price","quote":"paying all year for people who work four months makes no \
sense to us","utterance_id":"u-166","confidence":0.85,"suggested_reply":"That's a fair point for seasonal crews. \
We can set those seats to be active only in the months you use them; shall I show you what that does to the \
annual total?"}]}

Example 30: a story about the past that carries a present concern.
new:
[u-170] Aisha Bello: We tried a routing tool back in 2021, and the technicians simply ignored it and kept \
calling the office, so I'm wary of another app nobody uses.
report: {"objections":[{"category":"adoption","quote":"I'm wary of another app nobody \
uses","utterance_id":"u-170","confidence":0.8,"suggested_reply":"That experience matters. What made them go back \
to calling? We can plan the rollout around that, with the technicians' feedback in the first two weeks and a \
measure of use we check together."}]}

Example 31: a policy stated as a fact is an objection when it blocks the purchase.
new:
[u-175] Tomasz Nowak: Company policy says every new vendor goes through a security review, and those have been \
taking about two months.
report: {"objections":[{"category":"security","quote":"every new vendor goes through a security review, and \
those have been taking about two months","utterance_id":"u-175","confidence":0.75,"suggested_reply":"Thanks, \
let's start it early then. I'll send our completed standard questionnaire and SOC 2 report today, which usually \
shortens those reviews a lot."}]}

Example 32: the same category again, but a genuinely new objection, is reported.
raised_objections: [{"category":"price","quote":"I was hoping we'd land somewhere around half that"}]
new:
[u-180] Raj Patel: And on top of the licence there's the training time, three days per technician is money we \
lose.
report: {"objections":[{"category":"price","quote":"three days per technician is money we \
lose","utterance_id":"u-180","confidence":0.8,"suggested_reply":"You're right to count it. Most teams need half \
a day, not three, with our in-app guides; we can run a short session per crew in their quiet hours so no \
billable day is lost."}]}"""

TOOL = {
    "type": "function",
    "function": {
        "name": "report_objections",
        "description": "Report the objections raised in the new utterances (an empty list when there are none).",
        "parameters": {
            "type": "object",
            "properties": {
                "objections": {
                    "type": "array",
                    "items": {
                        "type": "object",
                        "properties": {
                            "category": {"type": "string"},
                            "quote": {"type": "string"},
                            "utterance_id": {"type": "string"},
                            "confidence": {"type": "number", "minimum": 0, "maximum": 1},
                            "suggested_reply": {"type": "string"},
                        },
                        "required": ["category", "quote", "utterance_id", "confidence", "suggested_reply"],
                    },
                }
            },
            "required": ["objections"],
        },
    },
}


def playbook_rows(value: Any) -> list[dict[str, Any]]:
    """Playbook table rows as {category, cues: [..], response}; rows without a category are ignored."""
    rows = []
    for row in value or []:
        row = getattr(row, "data", row)
        if not isinstance(row, dict) or not str(row.get("category") or "").strip():
            continue
        cues = row.get("cues") or ""
        cue_list = cues if isinstance(cues, list) else re.split(r"[,;\n]", str(cues))
        rows.append(
            {
                "category": str(row["category"]).strip(),
                "cues": [str(cue).strip() for cue in cue_list if str(cue).strip()],
                "response": " ".join(str(row.get("response") or "").split()),
            }
        )
    return rows


def system_prompt(instructions: str, playbook: list[dict[str, Any]], examples: bool) -> str:
    """Instructions, the playbook as one line per card and, when `examples`, the worked examples: the same text for
    every window of a meeting (nothing per window in it), so it can be cached."""
    cards = [f"- {row['category']} | {', '.join(row['cues'])} | {row['response']}" for row in playbook]
    text = f"{instructions.strip()}\n\nPlaybook (category | cue phrases | recommended response):\n" + "\n".join(cards)
    return f"{text}\n\n{EXAMPLES}" if examples else text


def _cue_pattern(cue: str) -> re.Pattern[str] | None:
    """A cue as whole words, any spaces or hyphens between them, an optional apostrophe where the cue has one and
    a plain ending on the last word ("concern" also finds "concerns", "concerned"); None for an empty cue."""
    parts = re.findall(r"[a-z0-9']+", cue.lower().replace("\u2019", "'"))
    if not parts:
        return None
    body = r"[\s-]+".join(re.escape(part).replace("'", "'?") for part in parts)
    return re.compile(rf"(?<![a-z0-9']){body}(?:s|es|d|ed|ing|y)?(?![a-z0-9'])")


def _said(cues: list[str], texts: list[str]) -> bool:
    """Whether any cue is said in any of the (lower-cased) texts."""
    for cue in cues:
        pattern = _cue_pattern(cue)
        if pattern is not None and any(pattern.search(text) for text in texts):
            return True
    return False


# --- shared model-call helpers (identical in every LLM component of this bundle; a test keeps them in sync) ---


def _window_from(value: Any) -> dict[str, Any]:
    """The validated window dict from the Transcript Window's `Window` output (Data, or a plain dict in tests)."""
    if isinstance(value, list) and len(value) == 1:
        value = value[0]
    data = getattr(value, "data", value)
    if not isinstance(data, dict) or not {"meeting", "window", "utterances"} <= set(data):
        raise ValueError("connect the Transcript Window component's Window output to the Window input")
    return data


def _internal_ids(window: dict[str, Any], marks: str = "") -> set[str]:
    """User ids of the internal side (the seller's team): the window's hosts and participants the bridge marked
    internal (flows.toml's [meeting] internal), plus the speakers whose name contains one of the lead's
    comma-separated marks (a name, or a tag such as "(Harborline)"), case-insensitively."""
    patterns = [p.strip().lower() for p in re.split(r"[,;\n]", marks or "") if p.strip()]
    participants = window.get("participants", [])
    ids = {p["user_id"] for p in participants if p.get("role") == "host" or p.get("internal")}
    people = [(p["user_id"], p.get("name") or "") for p in participants]
    people += [(u["user_id"], u["speaker"]) for key in ("context", "utterances") for u in window.get(key, [])]
    return ids | {uid for uid, name in people if any(p in str(name).lower() for p in patterns)}


def _line(utterance: dict[str, Any], internal: set[str], chars: int = 0) -> str:
    """One utterance as one line, `[id] Speaker: text` (`[id|internal]` for the seller's side), the text cut to its
    last `chars` when set: a third of the tokens of a JSON object per utterance, and models read it as well."""
    text = " ".join(str(utterance["text"]).split())
    if chars and len(text) > chars:
        text = "\u2026" + text[-chars:]
    side = "|internal" if utterance["user_id"] in internal else ""
    return f"[{utterance['id']}{side}] {utterance['speaker']}: {text}"


def _request(data: dict[str, Any], new: list[str], context: list[str] | None = None) -> str:
    """The user message: the window's small fields as one JSON line, then the context and the new utterances."""
    parts = ["<window_data>", json.dumps(data, ensure_ascii=False, separators=(",", ":"))]
    if context:
        parts += ["context:", *context]
    return "\n".join([*parts, "new:", *new, "</window_data>"])


def _words(text: str) -> set[str]:
    return {w for w in re.findall(r"[a-z0-9']+", text.lower()) if len(w) > 2}


def _similar(first: str, second: str) -> float:
    a, b = _words(first), _words(second)
    return len(a & b) / len(a | b) if a and b else 0.0


def _squash(text: str) -> str:
    return " ".join(re.findall(r"[a-z0-9']+", text.lower()))


def _find_utterance(quote: str, utterance_id: Any, utterances: list[dict[str, Any]]) -> dict[str, Any] | None:
    """The new utterance an item came from: by id when the model gave one that exists, else by its quote."""
    if isinstance(utterance_id, str):
        for utterance in utterances:
            if utterance["id"] == utterance_id:
                return utterance
    needle = _squash(quote)
    if needle:
        for utterance in utterances:
            if needle in _squash(utterance["text"]):
                return utterance
    return None


def _stable_key(prefix: str, *parts: str) -> str:
    digest = hashlib.sha256("\x1f".join(parts).encode("utf-8")).hexdigest()
    return f"{prefix}-{digest[:16]}"


def _error(stage: str, message: str, detail: Any = None) -> dict[str, Any]:
    text = None if detail is None else (detail if isinstance(detail, str) else json.dumps(detail, default=str))
    return {"stage": stage, "message": message, "detail": None if text is None else text[:2000]}


def _json_from_text(text: str) -> Any:
    """The JSON object in a model's text answer: the whole text, a fenced block, or the outermost braces."""
    text = text.strip()
    candidates = [text]
    fenced = re.search(r"```(?:json)?\s*(.*?)```", text, re.DOTALL)
    if fenced:
        candidates.append(fenced.group(1).strip())
    if "{" in text and "}" in text:
        candidates.append(text[text.index("{") : text.rindex("}") + 1])
    for candidate in candidates:
        try:
            return json.loads(candidate)
        except ValueError:
            continue
    raise ValueError("the answer contains no JSON object")


def _message_text(message: Any) -> str:
    content = getattr(message, "content", message)
    if isinstance(content, str):
        return content
    if isinstance(content, list):
        return "".join(
            part.get("text", "") if isinstance(part, dict) else str(part)
            for part in content
            if not isinstance(part, dict) or part.get("type") in (None, "text")
        )
    return str(content)


def _system(text: str, llm: Any, cache: bool) -> tuple[str, Any]:
    """The system message; with `cache` and an Anthropic model, one text block carrying a `cache_control`
    breakpoint, so the tool schema and this text (everything before it, byte-identical within a meeting) are cached.
    Other models get plain text: they ignore or reject Anthropic's marker."""
    if cache and "anthropic" in type(llm).__name__.lower():
        return ("system", [{"type": "text", "text": text, "cache_control": {"type": "ephemeral"}}])
    return ("system", text)


def _usage(answer: Any) -> dict[str, int]:
    """Calls and tokens of one answer; cache reads and writes as Anthropic reports them (0 for other models)."""
    meta = getattr(answer, "usage_metadata", None) or {}
    details = meta.get("input_token_details") or {}
    written = sum(int(details.get(k) or 0) for k in ("ephemeral_5m_input_tokens", "ephemeral_1h_input_tokens"))
    return {
        "model_calls": 1,
        "input_tokens": int(meta.get("input_tokens") or 0),
        "output_tokens": int(meta.get("output_tokens") or 0),
        "cache_read_tokens": int(details.get("cache_read") or 0),
        "cache_write_tokens": written or int(details.get("cache_creation") or 0),
    }


async def _ask_model(
    component: Any,
    stage: str,
    instructions: str,
    request: str,
    tool: dict[str, Any],
    use_tools: bool,
    cache: bool = False,
) -> tuple[Any, list[dict[str, Any]], dict[str, int]]:
    """One model call with a single forced tool; falls back to JSON-in-text for models without tool calling.

    Returns (the tool's arguments or None, errors, usage). Output that does not parse is an error entry, never an
    empty result dressed up as fine; failures to reach the model raise.
    """
    llm = component.llm
    if llm is None:
        raise ValueError("connect a Language Model (e.g. the Anthropic component's Language Model output)")
    config = {"callbacks": component.get_langchain_callbacks()}
    name = tool["function"]["name"]
    bound = None
    if use_tools and hasattr(llm, "bind_tools"):
        try:
            bound = llm.bind_tools([tool], tool_choice=name)
        except (NotImplementedError, TypeError, ValueError):
            bound = None
    system = instructions
    if bound is None:
        schema = json.dumps(tool["function"]["parameters"], separators=(",", ":"))
        system = f"{instructions}\n\nAnswer with only a JSON object matching this JSON Schema, no prose:\n{schema}"
    answer = await (bound or llm).ainvoke([_system(system, llm, cache), ("human", request)], config=config)
    usage = _usage(answer)
    try:  # Langflow's own token counter (a private attribute: older or newer lfx may not have it)
        from lfx.schema.token_usage import accumulate_usage, extract_usage_from_message

        component._token_usage = accumulate_usage(component._token_usage, extract_usage_from_message(answer))
    except (ImportError, AttributeError, TypeError):  # usage still travels in the insights document
        pass
    for call in getattr(answer, "tool_calls", None) or []:
        if call.get("name") == name:
            return call.get("args"), [], usage
    for call in getattr(answer, "invalid_tool_calls", None) or []:
        if call.get("name") == name:
            return None, [_error(stage, f"{name} arguments are not valid JSON", call.get("args"))], usage
    text = _message_text(answer)
    try:
        return _json_from_text(text), [], usage
    except ValueError as exc:
        return None, [_error(stage, f"model answer did not parse: {exc}", text)], usage


def _objects(value: Any, field: str, stage: str, errors: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The list under `field` of the model's answer; anything else is reported."""
    if not isinstance(value, dict) or not isinstance(value.get(field), list):
        errors.append(_error(stage, f"model answer has no list field {field!r}", value))
        return []
    items = []
    for index, item in enumerate(value[field]):
        if isinstance(item, dict):
            items.append(item)
        else:
            errors.append(_error(stage, f"{field}[{index}] is not an object", item))
    return items


def _text_field(item: dict[str, Any], name: str, required: bool = True) -> str | None:
    value = item.get(name)
    if isinstance(value, str) and value.strip():
        return value.strip()
    if value is None and not required:
        return None
    raise ValueError(f"{name} must be a non-empty string, got {value!r}")


# --- end of shared helpers ---
