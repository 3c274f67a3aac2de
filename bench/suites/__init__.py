"""One module per benchmark suite. Each defines `run(ctx: BenchContext) -> dict[str, object]`;
its keys are merged into bench/results/latest.json (prefix them with the suite's topic)."""
