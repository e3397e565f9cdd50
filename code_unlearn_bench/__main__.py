from code_unlearn_bench.cli import main

raise SystemExit(main())
