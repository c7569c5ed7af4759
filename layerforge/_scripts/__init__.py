"""Programs that another interpreter runs (the target runtime's Python, the sandbox's): the
bytecode worker, the smoke-test import harness and the Lambda runner. Each is standalone:
standard library only, Python 3.9 syntax, nothing imported from layerforge (a test checks), and
read as text with ``importlib.resources``, never imported by layerforge itself."""
