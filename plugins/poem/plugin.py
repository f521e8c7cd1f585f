"""The poem plugin: ``/poem <form> [topic]`` writes a poem whose form is checked."""

from __future__ import annotations

import asyncio
import logging
import re
from typing import Annotated, ClassVar, Literal

from bot.errors import Blocked, UsageError
from bot.generation.types import GenerationRequest
from bot.plugin import Call, Cooldown, Param, Plugin, PluginContext, command
from bot.types import Permission, Reply
from plugins.kit import presets, words
from plugins.kit.keywords import key_terms
from plugins.kit.textcraft import fit_message, normalize_space
from plugins.poem.composer import ComposedPoem, ComposerSettings, Generate, PoemComposer
from plugins.poem.forms import MAX_ACROSTIC_LETTERS, PoemForm, acrostic_letters
from plugins.poem.prompts import PoemPrompt
from plugins.poem.settings import PoemSettings

__all__ = ["PoemPlugin"]

log = logging.getLogger(__name__)

FormName = Literal["haiku", "limerick", "acrostic", "couplet", "quatrain", "free"]
USAGE = "/poem <haiku|limerick|acrostic|couplet|quatrain|free> [topic]"
PRESET_USAGE = "/poem-preset [setting] [value|reset]"
_SPELL = re.compile(r"\b(?:spell|word)\s*=\s*([A-Za-z]+)\b", re.IGNORECASE)
MAX_TOPIC_WORDS = 12
CONTEXT_CHARS = 500


class PoemPlugin(Plugin):
    """Poems with checked forms, about a topic or about the story in the channel."""

    name: ClassVar[str] = "poem"
    description: ClassVar[str] = "Poems with checked forms: haiku, limerick, acrostic and more."

    def __init__(self, context: PluginContext) -> None:
        super().__init__(context)
        self.settings = context.settings_as(PoemSettings)

    async def setup(self) -> None:
        await asyncio.to_thread(words.load_lexicons)
        presets.register(self.context.store.settings, self.name)

    @command(
        "poem",
        description="Write a poem: haiku, limerick, acrostic, couplet, quatrain or free verse.",
        examples=(
            "/poem haiku the first snow",
            "/poem limerick a cat who loves cheese",
            "/poem acrostic moon",
            "/poem acrostic spell=sea a day at the beach",
            "/poem quatrain",
            "/poem free a rainy Monday",
        ),
        cooldown=Cooldown(rate=2, per=20.0),
    )
    async def poem(
        self,
        call: Call,
        form: Annotated[FormName, Param("The kind of poem")],
        topic: Annotated[
            str, Param("What it is about (default: this channel's story)", rest=True, max=300)
        ] = "",
    ) -> Reply:
        """Compose, check and post a poem."""
        poem_form = PoemForm(form)
        prompt = await self._prompt(call, poem_form, topic)
        preset = await presets.effective_preset(
            self.context.store.settings,
            self.name,
            self.settings.sampling,
            call.channel.guild_id,
            call.channel.channel_id,
        )
        composer = PoemComposer(
            self._generator(call),
            chat=self.context.model.is_chat_model,
            settings=ComposerSettings(
                sampling=preset.params(),
                candidates=self.settings.candidates,
                max_attempts=self.settings.max_attempts,
                examples=self.settings.examples,
                favour=self.settings.favour,
                deadline_s=self.settings.deadline_s,
                priority=self.settings.priority,
            ),
            rng=call.random,
            channel_key=call.channel.key,
        )
        async with call.typing():
            result = await composer.compose(prompt, lines=self.settings.free_verse_lines)
        log.debug(
            "poem %s in %s: valid=%s attempts=%d repairs=%d",
            form,
            call.channel.key,
            result.valid,
            result.attempts,
            result.repairs,
        )
        return Reply(text=render(result, prompt))

    @command(
        "poem-preset",
        description="Show or change how poems are sampled in this server.",
        permission=Permission.MANAGE_GUILD,
        examples=("/poem-preset", "/poem-preset temperature 1.1", "/poem-preset top_k reset"),
    )
    async def preset(
        self,
        call: Call,
        setting: Annotated[
            str, Param("temperature, top_k, top_p, repetition_penalty or no_repeat_ngram_size")
        ] = "",
        value: Annotated[str, Param("A number, or 'reset'")] = "",
    ) -> str:
        """Show the effective preset, or change one value for this server."""
        return await presets.preset_command(
            self.context.store.settings,
            self.name,
            self.settings.sampling,
            setting,
            value,
            guild_id=call.channel.guild_id,
            usage=PRESET_USAGE,
            label="Poem",
        )

    # -- helpers --------------------------------------------------------------------------
    def _generator(self, call: Call) -> Generate:
        writer = self.context.writer

        async def generate(request: GenerationRequest) -> str | None:
            try:
                result = await writer.complete(
                    request, channel=call.channel, user_id=call.author.id
                )
            except Blocked:
                return None
            return result.text

        return generate

    async def _prompt(self, call: Call, form: PoemForm, topic: str) -> PoemPrompt:
        word = ""
        spell = _SPELL.search(topic)
        if spell:
            word = spell.group(1)
            topic = (topic[: spell.start()] + topic[spell.end() :]).strip()
        topic = normalize_space(topic).replace("\n", " ")
        context = ""
        if not topic:
            topic, context = await self._story_topic(call)
        if not topic:
            if word:
                topic = word.lower()
            else:
                raise UsageError(
                    "What should the poem be about? Give a topic, or start a "
                    "story in this channel first.",
                    usage=USAGE,
                )
        words = topic.split()
        if len(words) > MAX_TOPIC_WORDS:
            topic = " ".join(words[:MAX_TOPIC_WORDS])
        if form is PoemForm.ACROSTIC:
            word = word or _acrostic_word(topic)
            letters = acrostic_letters(word)
            if not 2 <= len(letters) <= MAX_ACROSTIC_LETTERS:
                raise UsageError(
                    f"An acrostic needs a word of 2-{MAX_ACROSTIC_LETTERS} letters to spell. "
                    "Name it with `spell=`, e.g. `/poem acrostic spell=moon a quiet night`.",
                    usage=USAGE,
                )
            word = "".join(letters)
        return PoemPrompt(form=form, topic=topic, word=word, context=context)

    async def _story_topic(self, call: Call) -> tuple[str, str]:
        store = self.context.store
        story = await store.stories.get_active(call.channel)
        if story is None:
            return "", ""
        turns = await store.turns.window(story.id, limit=self.settings.story_turns)
        text = " ".join(t.text for t in turns) or story.premise
        context = text[-CONTEXT_CHARS:]
        return story_topic(f"{story.premise} {text}", story.title), context


def _acrostic_word(topic: str) -> str:
    words: list[str] = re.findall(r"[A-Za-z]+", topic)
    if len(words) == 1:
        return words[0]
    terms = [t.text for t in key_terms(topic, limit=5) if 3 <= len(t.text) <= 8]
    return terms[0] if terms else next((w for w in words if len(w) >= 3), "")


def story_topic(text: str, title: str = "") -> str:
    """A short topic for a story: its title, else its main name and thing ("Lily and the dragon")."""
    if title.strip():
        return title.strip()
    terms = key_terms(text, limit=6)
    names = [t.text for t in terms if t.is_name]
    things = [t.text for t in terms if not t.is_name]
    if names and things:
        return f"{names[0]} and the {things[0]}"
    if len(things) >= 2:
        return f"the {things[0]} and the {things[1]}"
    if names or things:
        return (names or [f"the {things[0]}"])[0]
    return ""


def render(poem: ComposedPoem, prompt: PoemPrompt) -> str:
    """The message for a finished poem: heading, lines, and a note when the form is approximate."""
    label = prompt.form.label
    article = "An" if label[0] in "aeiou" else "A"
    heading = f"*{article} {label} about {prompt.topic}*"
    if prompt.form is PoemForm.ACROSTIC:
        heading = f"*An acrostic for {prompt.word.upper()}, about {prompt.topic}*"
    body = "\n".join(poem.lines)
    if prompt.form is PoemForm.ACROSTIC:
        body = "\n".join(f"**{line[:1]}**{line[1:]}" for line in poem.lines)
    text = f"{heading}\n{body}"
    if not poem.valid:
        problem = poem.check.problems[0] if poem.check.problems else "it does not quite fit"
        text += f"\n_(I could only approximate the {label} form: {problem}.)_"
    return fit_message(text)
