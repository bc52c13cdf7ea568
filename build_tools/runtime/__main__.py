from build_tools.runtime.cli import main

main()
