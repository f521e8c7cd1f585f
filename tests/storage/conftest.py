"""Storage fixtures: every store test runs on a SQLite file and on the local PostgreSQL.

PostgreSQL: postgresql+asyncpg://postgres@127.0.0.1:5432/test, one fresh schema per test
(dropped afterwards). When the server is unreachable the PostgreSQL tests fail with a clear
message, unless STORYLOOM_SKIP_PG=1 is set (then they are skipped).
"""

from __future__ import annotations

import os
import uuid
from collections.abc import AsyncIterator, Callable
from pathlib import Path

import pytest
import pytest_asyncio

from bot.types import Author, ChannelRef
from storage.settings import StorageSettings
from storage.store import Store, open_store

PG_URL = os.environ.get(
    "STORYLOOM_TEST_PG_URL", "postgresql+asyncpg://postgres@127.0.0.1:5432/test"
)
BACKENDS = [
    pytest.param("sqlite", id="sqlite"),
    pytest.param("postgresql", id="postgresql", marks=pytest.mark.postgres),
]

ALICE = Author("100", "Alice")
BOB = Author("200", "Bob")
CAROL = Author("300", "Carol")
GUILD_A_CH1 = ChannelRef("11", "1", name="story-a1")
GUILD_A_CH2 = ChannelRef("12", "1", name="story-a2")
GUILD_B_CH1 = ChannelRef("21", "2", name="story-b1")


async def _pg_admin() -> object:
    import asyncpg

    dsn = PG_URL.replace("postgresql+asyncpg://", "postgresql://")
    try:
        return await asyncpg.connect(dsn, timeout=5)
    except (OSError, asyncpg.PostgresError) as exc:
        message = (
            f"PostgreSQL is not reachable at {dsn} ({exc!r}). Start it (CI does: see .ci/run) "
            "or set STORYLOOM_SKIP_PG=1 to skip the PostgreSQL storage tests."
        )
        if os.environ.get("STORYLOOM_SKIP_PG") == "1":
            pytest.skip(message)
        pytest.fail(message, pytrace=False)


@pytest.fixture(params=BACKENDS)
def backend(request: pytest.FixtureRequest) -> str:
    return str(request.param)


@pytest_asyncio.fixture
async def storage_settings(backend: str, tmp_path: Path) -> AsyncIterator[StorageSettings]:
    """Settings for an empty database (not yet migrated) on ``backend``."""
    if backend == "sqlite":
        yield StorageSettings(url=str(tmp_path / "storyloom.db"), settings_cache_ttl_s=0)
        return
    admin = await _pg_admin()
    schema = f"storyloom_test_{uuid.uuid4().hex[:12]}"
    await admin.execute(f'CREATE SCHEMA "{schema}"')  # type: ignore[attr-defined]
    try:
        yield StorageSettings(url=PG_URL, pg_schema=schema, settings_cache_ttl_s=0)
    finally:
        await admin.execute(f'DROP SCHEMA "{schema}" CASCADE')  # type: ignore[attr-defined]
        await admin.close()  # type: ignore[attr-defined]


@pytest_asyncio.fixture
async def store(storage_settings: StorageSettings) -> AsyncIterator[Store]:
    """An open store on a freshly migrated database."""
    opened = await open_store(storage_settings)
    try:
        yield opened
    finally:
        await opened.close()


def _load_tokenizer() -> Callable[[str], int]:
    """The bundled model's tokenizer; until it exists, a byte-level BPE trained here."""
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
    try:
        from bot.models import bundled_model_path

        path = bundled_model_path()
    except ImportError:
        path = None
    if path is not None and (path / "tokenizer.json").exists():
        from transformers import AutoTokenizer

        tok = AutoTokenizer.from_pretrained(str(path))
        return lambda text: len(tok(text, add_special_tokens=False)["input_ids"])
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers

    bpe = Tokenizer(models.BPE())
    bpe.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    bpe.decoder = decoders.ByteLevel()
    corpus = [
        "Once upon a time the dragon slept under the mountain while the knight sharpened his sword.",
        "Alice: I light the torch and step into the cave. Bob: I follow her, whispering.",
        "The wizard's tower rose above the forest; its windows glowed blue in the night.",
    ] * 20
    trainer = trainers.BpeTrainer(
        vocab_size=400, show_progress=False, initial_alphabet=pre_tokenizers.ByteLevel.alphabet()
    )
    bpe.train_from_iterator(corpus, trainer)
    return lambda text: len(bpe.encode(text).ids)


@pytest.fixture(scope="session")
def count_tokens() -> Callable[[str], int]:
    return _load_tokenizer()
