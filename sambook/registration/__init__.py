"""Registration of every modality to T2 (chapter `registration`): rigid registration, its accuracy (TRE), and the
registration of whole datasets."""

from sambook.registration.rigid import RegistrationResult, register_rigid, resample_to

__all__ = ["RegistrationResult", "register_rigid", "resample_to"]
