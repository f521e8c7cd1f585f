"""What plugins share, so no plugin imports another: ``words`` (dictionary words, made-up
words, content words), ``rerank`` (best-of-N scoring), ``keywords`` (a text's key terms and
nouns), ``presets`` (per-server sampling presets), ``textcraft`` (cleaning model text for chat). Plugins import ``bot.plugin`` and this kit."""
