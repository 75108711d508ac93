"""Operations for administrators."""
