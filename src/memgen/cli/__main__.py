from memgen.cli import console

console()
