"""Child process of `profile_pte` (compat.py): run a .pte with ETDump and
write the ETDump file. Run as a script, not imported, so that a runtime that aborts (a native
assert ends the process with SIGABRT, no Python exception) takes only this process down:

    python etdump.py MODEL.pte INPUT.pt ETDUMP_OUT RUNS DEBUG_BUFFER_BYTES

Imports only torch and the ExecuTorch runtime (not the mobilekit packages) to start fast.
"""

import sys
from pathlib import Path


def main(argv: list[str]) -> None:
    import torch
    from executorch.runtime import Runtime

    pte, input_path, etdump, runs, debug_buffer_size = argv
    example_input = torch.load(input_path)
    # debug_buffer_size 0: ETDump records timings only; a non-zero size also stores every
    # intermediate output, and the runtime aborts when they outgrow the buffer.
    loaded = Runtime.get().load_program(Path(pte), enable_etdump=True, debug_buffer_size=int(debug_buffer_size))
    method = loaded.load_method("forward")
    for _ in range(max(1, int(runs))):
        method.execute([example_input])
    loaded.write_etdump_result_to_file(etdump, str(Path(etdump).with_suffix(".debug.bin")))


if __name__ == "__main__":
    main(sys.argv[1:])
