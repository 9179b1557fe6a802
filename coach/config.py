"""Settings, resolved once at the edge (``app.py`` or the CLI) and passed down.

Sources, strongest first: environment variables (``COACH_*``), then values passed in (the app
passes ``st.secrets``), then the defaults below. Nothing else in the project reads
``os.environ``.

The embedded defaults need no key and no network: a SQLite file under ``data/`` and the bundled
offline model. Setting ``COACH_OPENAI_API_KEY`` switches the default provider to OpenAI.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any, Literal

from pydantic import Field, SecretStr, field_validator, model_validator
from pydantic_settings import (
    BaseSettings,
    PydanticBaseSettingsSource,
    SettingsConfigDict,
)

from coach.access.roles import Role
from coach.costs import Price
from coach.persistence.urls import mask_url

Provider = Literal["openai", "local", "scripted"]
AccessMode = Literal["off", "password", "header", "oidc"]
StructuredMode = Literal["json_schema", "json_object", "prompted"]
LogLevel = Literal["DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL"]

DEFAULT_DATA_DIR = Path("data")
#: The largest bundle an import reads, in MB (``max_bundle_mb``).
MAX_BUNDLE_MB = 25


class Settings(BaseSettings):
    """Every setting of the engine and the app, with safe defaults."""

    model_config = SettingsConfigDict(env_prefix="COACH_", extra="ignore", frozen=True)

    data_dir: Path = DEFAULT_DATA_DIR
    database_url: str | None = Field(
        default=None,
        description="memory://, sqlite:///path.db or postgresql+asyncpg://...; "
        "default: a SQLite file in data_dir",
    )

    llm_provider: Provider | None = Field(
        default=None, description="default: openai when an API key is set, else local"
    )
    openai_api_key: SecretStr | None = None
    openai_base_url: str | None = None
    openai_model: str = "gpt-5.4-mini"
    openai_structured_mode: StructuredMode = "json_schema"
    openai_json_object_schema: bool = Field(
        default=False,
        description="in json_object mode, also send the schema (the llama.cpp server uses it)",
    )
    openai_max_tokens_param: Literal["max_completion_tokens", "max_tokens"] = (
        "max_completion_tokens"
    )
    llm_timeout_s: float = Field(
        default=60.0, gt=0, description="seconds a model may take to answer one request"
    )
    max_output_tokens: int | None = Field(
        default=None,
        ge=16,
        description="the most tokens of one coach reply (default: 512 for the bundled model, "
        "the server's own limit for OpenAI-compatible ones)",
    )
    llm_max_retries: int = Field(default=2, ge=0)
    local_model_path: Path | None = None
    local_context_tokens: int = Field(default=8192, ge=512)

    model_prices: dict[str, Price] = Field(
        default_factory=dict,
        description='US dollars per million tokens by model (or "provider/model"), as JSON: '
        '{"my-model": {"input_per_million": 0.25, "output_per_million": 2.0}}; '
        "a model without a price has no known cost",
    )

    scenarios_dir: Path = Field(
        default=Path("scenarios"), description="where the eval scenarios (YAML) are read"
    )

    access_mode: AccessMode = Field(
        default="off",
        description="off (everyone is a local admin), password (a shared password), header (a "
        "trusted reverse proxy's header names the user) or oidc (st.login with the [auth] "
        "secrets)",
    )
    access_password: SecretStr | None = Field(
        default=None, description="the shared password of access_mode password"
    )
    access_password_role: Role = Field(
        default=Role.COACH, description="the role the shared password gives"
    )
    access_header: str = Field(
        default="X-Forwarded-Email",
        description="access_mode header: the header holding the signed-in e-mail; only a "
        "reverse proxy that sets it (and strips it from clients) may reach the app",
    )
    access_roles: dict[str, Role] = Field(
        default_factory=dict,
        description='roles by e-mail or OIDC group, as JSON: {"ana@example.org": "admin", '
        '"coaches": "coach"}; the highest one found counts',
    )
    access_default_role: Role | Literal["none"] = Field(
        default=Role.VIEWER,
        description="the role of a signed-in user access_roles does not name; none: no access",
    )
    access_groups_claim: str = Field(
        default="groups", description="access_mode oidc: the claim listing the user's groups"
    )

    context_token_budget: int = Field(default=4000, ge=200)
    max_message_chars: int = Field(
        default=20_000, ge=1, description="the longest message a client may send (characters)"
    )
    summary_max_words: int = Field(default=200, ge=20)
    max_bundle_mb: int = Field(
        default=MAX_BUNDLE_MB,
        ge=1,
        description="the largest bundle an import reads (MB); an import holds about 5 times "
        "the file in memory. The Sessions page also needs server.maxUploadSize this large",
    )

    log_format: Literal["json", "text"] = Field(
        default="json", description="json: one JSON object a line (for a log collector); text"
    )
    log_level: LogLevel = Field(default="INFO", description="the engine's; libraries' from WARNING")
    log_content: bool = Field(
        default=False,
        description="also log the client's message and the coach's reply; off by default: "
        "they are personal data",
    )

    @field_validator("log_level", mode="before")
    @classmethod
    def _upper_case(cls, value: object) -> object:
        return value.upper() if isinstance(value, str) else value

    @model_validator(mode="after")
    def _password_given(self) -> Settings:
        if self.access_mode == "password" and not (
            self.access_password and self.access_password.get_secret_value()
        ):
            raise ValueError(
                "access_mode is password but no password is set: set COACH_ACCESS_PASSWORD "
                "(or access_password in .streamlit/secrets.toml)"
            )
        return self

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        # The environment beats values passed in (secrets.toml), which beat the defaults.
        return env_settings, init_settings

    @classmethod
    def resolve(cls, secrets: Mapping[str, Any] | None = None) -> Settings:
        """Build the settings from the environment and, below it, ``secrets``.

        ``secrets`` keys may be given with or without the ``COACH_`` prefix, in any case.
        """
        values: dict[str, Any] = {}
        for key, value in (secrets or {}).items():
            name = key.lower().removeprefix("coach_")
            if name in cls.model_fields:
                values[name] = value
        return cls(**values)

    @property
    def effective_database_url(self) -> str:
        if self.database_url:
            return self.database_url
        return f"sqlite:///{self.data_dir / 'coach.db'}"

    @property
    def effective_provider(self) -> Provider:
        if self.llm_provider is not None:
            return self.llm_provider
        return "openai" if self.openai_api_key is not None else "local"

    def describe(self) -> dict[str, str]:
        """A summary safe to show: the database URL masked, the API key never included."""
        return {
            "database": mask_url(self.effective_database_url),
            "provider": self.effective_provider,
            "model": self.openai_model if self.effective_provider == "openai" else "local",
            "api_key": "set" if self.openai_api_key is not None else "not set",
        }
