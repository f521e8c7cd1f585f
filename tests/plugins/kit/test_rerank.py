"""Best-of-N scoring: real words, relevance, endings, loops and likelihood."""

from __future__ import annotations

from plugins.kit.rerank import Candidate, has_dangling_end, rank, score

CONTEXT = "A tired detective looks for a missing singer in a rainy city."


def test_dangling_endings() -> None:
    for text in ("There he saw her with", "She ran to the", "He smiled and", "No end here"):
        assert has_dangling_end(text), text
    for text in ("She smiled.", '"Run!" he said.', "Was it the singer?", "“Go,” she said."):
        assert not has_dangling_end(text), text


def test_real_words_beat_made_up_ones() -> None:
    good = Candidate("The detective asked the barman about the singer.")
    bad = Candidate("The detective asked the Hewant about the Presentian singer.")
    ranked = rank([bad, good], context=CONTEXT)
    assert [r.candidate for r in ranked] == [good, bad]
    assert ranked[1].made_up == ("Hewant", "Presentian")


def test_relevant_text_beats_a_text_about_something_else() -> None:
    relevant = Candidate("The detective found the singer's coat in the rain.")
    elsewhere = Candidate("The little bunny hopped to the garden to eat a carrot.")
    ranked = rank([elsewhere, relevant], context=CONTEXT)
    assert ranked[0].candidate is relevant and ranked[0].relevant >= 2
    assert ranked[1].relevant == 0


def test_unfinished_looping_and_short_texts_lose() -> None:
    finished = Candidate("The detective walked out into the rain and looked for the singer.")
    unfinished = Candidate("The detective walked out into the rain and looked for the")
    looping = Candidate("the rain the rain the rain the rain the rain the rain the rain.")
    short = Candidate("Rain.")
    ranked = rank([unfinished, looping, short, finished], context=CONTEXT)
    assert ranked[0].candidate is finished
    assert ranked[-1].candidate is looping and ranked[-1].degenerate
    assert score(unfinished, context=CONTEXT).dangling


def test_likelihood_breaks_ties_and_empty_texts_are_dropped() -> None:
    a = Candidate("The detective sighed.", mean_logprob=-3.0)
    b = Candidate("The detective sighed.", mean_logprob=-1.5)
    ranked = rank([a, Candidate("   "), b], context=CONTEXT)
    assert [r.candidate for r in ranked] == [b, a]
