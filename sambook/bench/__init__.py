"""CPU benchmarks measured side by side in one run: training throughput (:mod:`.training`), the frozen-feature
cache (:mod:`.cache`) and the lean attention (:mod:`.attention`)."""
