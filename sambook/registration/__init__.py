"""Registration of every modality to T2 (chapter 2): rigid registration, its accuracy (TRE), and the batch command."""

from sambook.registration.rigid import RegistrationResult, register_rigid, resample_to

__all__ = ["RegistrationResult", "register_rigid", "resample_to"]
