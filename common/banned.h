/* banned.h: functions that invite overflows; include last so their use fails to compile. */
#ifndef LM_BANNED_H
#define LM_BANNED_H
#undef strcpy
#define strcpy(...) lm_banned_strcpy_use_snprintf
#undef strcat
#define strcat(...) lm_banned_strcat_use_lm_buf
#undef sprintf
#define sprintf(...) lm_banned_sprintf_use_snprintf
#undef vsprintf
#define vsprintf(...) lm_banned_vsprintf_use_vsnprintf
#undef strtok
#define strtok(...) lm_banned_strtok
#undef atoi
#define atoi(...) lm_banned_atoi_use_lm_parse_u64
#undef gets
#define gets(...) lm_banned_gets
#endif
