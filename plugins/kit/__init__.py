"""What plugins share: word checks and candidate reranking (``plugins.kit.words``,
``plugins.kit.rerank``). Plugins import ``bot.plugin`` and this kit, not each other."""
