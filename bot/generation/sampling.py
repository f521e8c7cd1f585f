"""Per-row token choice for a batch: every row keeps its own sampling parameters and seed."""

from __future__ import annotations

from collections.abc import Collection, Mapping, Sequence

import torch

from bot.generation.types import SamplingParams


class NgramBlocker:
    """Bans tokens that would repeat an n-gram already in the row (prompt included)."""

    __slots__ = ("_n", "_seen", "_tokens")

    def __init__(self, n: int, prompt_ids: Sequence[int]) -> None:
        self._n = n
        self._tokens: list[int] = []
        self._seen: dict[tuple[int, ...], set[int]] = {}
        for token in prompt_ids:
            self.push(token)

    def push(self, token: int) -> None:
        self._tokens.append(token)
        if len(self._tokens) >= self._n:
            gram = tuple(self._tokens[-self._n :])
            self._seen.setdefault(gram[:-1], set()).add(gram[-1])

    def banned(self) -> set[int]:
        if len(self._tokens) < self._n - 1:
            return set()
        prefix = tuple(self._tokens[len(self._tokens) - self._n + 1 :])
        return self._seen.get(prefix, set())


class BatchSampler:
    """Chooses the next token of every row from a ``[rows, vocab]`` logits tensor.

    Built once per batch composition (rows joining or leaving rebuild it), so everything that
    depends only on the rows' parameters is prepared here, not at every step. Greedy rows take
    the argmax; the others go through repetition penalty, temperature, top-k and top-p, and are
    drawn with their own generator when seeded (so a seeded row is reproducible whatever else
    runs). ``suppressed`` maps a row to tokens it may never pick (EOS for ``ignore_eos``).
    """

    def __init__(
        self,
        params: Sequence[SamplingParams],
        generators: Sequence[torch.Generator | None],
        shared_generator: torch.Generator,
        device: torch.device,
        suppressed: Mapping[int, Collection[int]] | None = None,
    ) -> None:
        self.size = len(params)
        self._device = device
        self._generators = list(generators)
        self._shared = shared_generator
        self._greedy = torch.tensor([p.greedy for p in params], device=device)
        self._all_greedy = all(p.greedy for p in params)
        self._any_greedy = any(p.greedy for p in params)
        penalties = [p.repetition_penalty for p in params]
        self._penalty = (
            torch.tensor(penalties, device=device).unsqueeze(1)
            if any(x != 1.0 for x in penalties)
            else None
        )
        self._temperature = torch.tensor(
            [p.temperature if not p.greedy else 1.0 for p in params], device=device
        ).unsqueeze(1)
        self._top_k = [p.top_k for p in params]
        self._top_p = torch.tensor([p.top_p for p in params], device=device).unsqueeze(1)
        self._any_top_p = any(p.top_p < 1.0 for p in params)
        self._seeded = [
            i for i, g in enumerate(generators) if g is not None and not params[i].greedy
        ]
        unseeded = [i for i, g in enumerate(generators) if g is None and not params[i].greedy]
        self._all_unseeded = len(unseeded) == self.size
        self._unseeded = torch.tensor(unseeded, dtype=torch.long, device=device)
        pairs = [(row, t) for row, tokens in (suppressed or {}).items() for t in sorted(tokens)]
        self._suppressed = (
            (
                torch.tensor([r for r, _ in pairs], dtype=torch.long, device=device),
                torch.tensor([t for _, t in pairs], dtype=torch.long, device=device),
            )
            if pairs
            else None
        )
        self._favour = [p.favour for p in params]
        self._vocab = 0  # what follows is prepared for this vocabulary size on first use
        self._ks: list[int] = []
        self._width = 0
        self._beyond_k: torch.Tensor | None = None

    def choose(
        self,
        logits: torch.Tensor,
        seen: torch.Tensor | None,
        banned: Mapping[int, Collection[int]],
        favoured: Mapping[int, Collection[int]] | None = None,
    ) -> torch.Tensor:
        """Next token per row (``[rows]`` long). ``seen`` marks tokens for repetition penalty;
        ``banned`` maps a row to tokens it must not pick at this step (n-gram blocking);
        ``favoured`` maps a row to tokens that get the row's ``favour`` added at this step."""
        logits = logits.float()
        if self._penalty is not None and seen is not None:
            penalised = torch.where(logits < 0, logits * self._penalty, logits / self._penalty)
            logits = torch.where(seen, penalised, logits)
        lifts = [
            (row, token, self._favour[row])
            for row, tokens in (favoured or {}).items()
            if self._favour[row]
            for token in tokens
        ]
        if lifts:
            at_row, at_token, lift = zip(*lifts, strict=True)
            logits = logits.index_put(
                (
                    torch.tensor(at_row, device=logits.device),
                    torch.tensor(at_token, device=logits.device),
                ),
                torch.tensor(lift, dtype=logits.dtype, device=logits.device),
                accumulate=True,
            )
        if self._suppressed is not None:
            logits[self._suppressed] = float("-inf")
        for row, tokens in banned.items():
            if tokens:
                logits[row, list(tokens)] = float("-inf")
        if self._all_greedy:
            return logits.argmax(dim=-1)
        sampled = self._sample(logits / self._temperature)
        if not self._any_greedy:
            return sampled
        return torch.where(self._greedy, logits.argmax(dim=-1), sampled)

    def _prepare(self, vocab: int) -> None:
        self._vocab = vocab
        self._ks = [k if 0 < k < vocab else vocab for k in self._top_k]
        self._width = max(self._ks)
        self._beyond_k = None
        if min(self._ks) < self._width:
            rank = torch.arange(self._width, device=self._device).unsqueeze(0)
            limit = torch.tensor(self._ks, device=self._device).unsqueeze(1)
            self._beyond_k = rank >= limit

    def _sample(self, scaled: torch.Tensor) -> torch.Tensor:
        vocab = scaled.shape[-1]
        if vocab != self._vocab:
            self._prepare(vocab)
        ks, width = self._ks, self._width
        if width < vocab:
            values, indices = scaled.topk(width, dim=-1)
        else:
            values, indices = scaled.sort(dim=-1, descending=True)
        if self._beyond_k is not None:
            values = values.masked_fill(self._beyond_k, float("-inf"))
        probs = values.softmax(dim=-1)
        if self._any_top_p:
            cumulative = probs.cumsum(dim=-1)
            remove = (cumulative - probs) > self._top_p
            probs = probs.masked_fill(remove, 0.0)
        if self._all_unseeded:  # the same draw as the general path below, without the copies
            return indices.gather(1, torch.multinomial(probs, 1, generator=self._shared)).view(-1)
        picks = torch.zeros(scaled.shape[0], dtype=torch.long, device=scaled.device)
        if self._unseeded.numel():
            rows = probs.index_select(0, self._unseeded)
            drawn = torch.multinomial(rows, 1, generator=self._shared).squeeze(1)
            picks.index_copy_(0, self._unseeded, drawn)
        for row in self._seeded:  # one uniform draw per step: independent of the batch
            weights = probs[row, : ks[row]].cumsum(dim=0)
            draw = torch.rand(1, generator=self._generators[row], device=weights.device)
            pick = torch.searchsorted(weights, draw * weights[-1], right=True)
            picks[row] = pick.clamp(max=ks[row] - 1)[0]
        return indices.gather(1, picks.unsqueeze(1)).squeeze(1)
