"""Ships `lm_eval_latent.pth` at the top of site-packages, in wheels and editable installs.

The .pth file starts the import hook that lets lm-eval 0.4.13 find `latent_hf` and our tasks
(see docs/discovery.md). Everything else about the package is declared in pyproject.toml.
"""

from pathlib import Path

from setuptools import setup
from setuptools.command.build_py import build_py
from setuptools.command.editable_wheel import editable_wheel

PTH = Path(__file__).resolve().parent / "lm_eval_latent.pth"


class BuildPyWithPth(build_py):
    """Regular builds: put the .pth at the root of the wheel."""

    def run(self):
        super().run()
        self.copy_file(str(PTH), str(Path(self.build_lib) / PTH.name))

    def get_outputs(self, include_bytecode=True):
        return [*super().get_outputs(include_bytecode), str(Path(self.build_lib) / PTH.name)]


class EditableWheelWithPth(editable_wheel):
    """Editable installs: setuptools writes every file of this folder into the wheel."""

    def _install_namespaces(self, installation_dir, pth_prefix):
        super()._install_namespaces(installation_dir, pth_prefix)
        Path(installation_dir, PTH.name).write_text(PTH.read_text())


setup(cmdclass={"build_py": BuildPyWithPth, "editable_wheel": EditableWheelWithPth})
