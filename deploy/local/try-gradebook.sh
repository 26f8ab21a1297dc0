#!/usr/bin/env bash
# Walks through the gradebook against `make run` with grpcurl: a school, its
# admin, a school year, a class, a subject, a teacher's load, a timetable,
# the week of lessons laid out from it, homework and a mark, and the
# student's diary. Run it again to repeat with new
# names (everything it creates is suffixed with the time).
set -euo pipefail

ID=127.0.0.1:50051
GB=127.0.0.1:50052
RUN=$(date +%H%M%S)
call() { # call ADDRESS TOKEN METHOD JSON
  grpcurl -plaintext ${2:+-H "authorization: Bearer $2"} -d "$4" "$1" "$3"
}
field() { python3 -c "import json,sys; d=json.load(sys.stdin); print(eval('d' + sys.argv[1]))" "$1"; }
login() { call $ID "" asurso.identity.v1.AuthService/Login "{\"login\":\"$1\",\"password\":\"$2\"}" | field '["tokens"]["accessToken"]'; }
# Registers someone at the school with a role, gives them a login and
# prints their person id; their password ends up "<login>-password-1".
person() { # person TOKEN SCHOOL ROLE LOGIN SNILS LAST FIRST
  local id temporary
  id=$(call $ID "$1" asurso.identity.v1.PeopleService/RegisterPerson \
    "{\"org_unit_id\":\"$2\",\"role\":\"$3\",\"person\":{\"last_name\":\"$6\",\"first_name\":\"$7\",\"birth_date\":{\"year\":1980,\"month\":1,\"day\":1},\"snils\":\"$5\"}}" | field '["person"]["id"]')
  temporary=$(call $ID "$1" asurso.identity.v1.AuthService/CreateLocalAccount "{\"person_id\":\"$id\",\"login\":\"$4\"}" | field '["temporaryPassword"]')
  call $ID "" asurso.identity.v1.AuthService/ChangePassword \
    "{\"login\":\"$4\",\"current_password\":\"$temporary\",\"new_password\":\"$4-password-1\"}" >/dev/null
  echo "$id"
}
# A valid SNILS from nine digits.
snils() { python3 -c "
d=[int(c) for c in '$1']; s=sum(x*w for x,w in zip(d,range(9,0,-1))); c=s%101; c=0 if c==100 else c
t='$1'; print(f'{t[0:3]}-{t[3:6]}-{t[6:9]} {c:02d}')"; }

REGION_ADMIN=$(login region.admin region-admin-password)
REGION=$(call $ID "$REGION_ADMIN" asurso.identity.v1.AccessService/ListGrants '{}' | field '["grants"][0]["orgUnitId"]')
TOWN=$(call $ID "$REGION_ADMIN" asurso.identity.v1.OrgService/CreateMunicipality "{\"region_id\":\"$REGION\",\"name\":\"Город $RUN\"}" | field '["municipality"]["id"]')
SCHOOL=$(call $ID "$REGION_ADMIN" asurso.identity.v1.OrgService/CreateSchool "{\"municipality_id\":\"$TOWN\",\"name\":\"Школа № 1\"}" | field '["school"]["id"]')
person "$REGION_ADMIN" "$SCHOOL" ROLE_SCHOOL_ADMIN "director.$RUN" "$(snils "1${RUN}01")" Директорова Анна >/dev/null
TEACHER=$(person "$REGION_ADMIN" "$SCHOOL" ROLE_TEACHER "teacher.$RUN" "$(snils "1${RUN}02")" Учителева Мария)
STUDENT=$(person "$REGION_ADMIN" "$SCHOOL" ROLE_STUDENT "student.$RUN" "$(snils "1${RUN}03")" Ученикова Оля)
ADMIN=$(login "director.$RUN" "director.$RUN-password-1")
sleep 1 # the gradebook learns of the school and the people from identity's events

YEAR=$(call $GB "$ADMIN" asurso.gradebook.v1.CalendarService/CreateSchoolYear "{\"school_id\":\"$SCHOOL\",\"name\":\"2026/2027\",
  \"start_date\":{\"year\":2026,\"month\":9,\"day\":1},\"end_date\":{\"year\":2027,\"month\":5,\"day\":31},
  \"term_kind\":\"TERM_KIND_HALVES\",\"days_per_week\":5,
  \"terms\":[{\"start_date\":{\"year\":2026,\"month\":9,\"day\":1},\"end_date\":{\"year\":2026,\"month\":12,\"day\":29}},
             {\"start_date\":{\"year\":2027,\"month\":1,\"day\":11},\"end_date\":{\"year\":2027,\"month\":5,\"day\":31}}],
  \"holidays\":[{\"name\":\"День народного единства\",\"start_date\":{\"year\":2026,\"month\":11,\"day\":4}}]}" | field '["schoolYear"]["id"]')
call $GB "$ADMIN" asurso.gradebook.v1.TimetableService/SetBellSchedule "{\"school_year_id\":\"$YEAR\",\"periods\":[
  {\"number\":1,\"start_time\":{\"hours\":8,\"minutes\":30},\"end_time\":{\"hours\":9,\"minutes\":15}},
  {\"number\":2,\"start_time\":{\"hours\":9,\"minutes\":25},\"end_time\":{\"hours\":10,\"minutes\":10}}]}" >/dev/null
CLASS=$(call $GB "$ADMIN" asurso.gradebook.v1.ClassService/CreateClass "{\"school_year_id\":\"$YEAR\",\"name\":\"5А\",\"grade\":5}" | field '["class"]["id"]')
MATHS=$(call $GB "$ADMIN" asurso.gradebook.v1.CurriculumService/CreateSubject "{\"school_id\":\"$SCHOOL\",\"name\":\"Математика\"}" | field '["subject"]["id"]')
call $GB "$ADMIN" asurso.gradebook.v1.CurriculumService/AssignLoad "{\"class_id\":\"$CLASS\",\"subject_id\":\"$MATHS\",\"teacher_id\":\"$TEACHER\",\"hours_per_week\":3}" >/dev/null
call $GB "$ADMIN" asurso.gradebook.v1.TimetableService/SetClassTimetable "{\"class_id\":\"$CLASS\",\"slots\":[
  {\"weekday\":1,\"period\":1,\"subject_id\":\"$MATHS\",\"room\":\"12\"},
  {\"weekday\":3,\"period\":2,\"subject_id\":\"$MATHS\",\"room\":\"12\"}]}"
echo "The week of 2 November (4 November is a holiday):"
call $GB "$ADMIN" asurso.gradebook.v1.TimetableService/GetTimetable "{\"class_id\":\"$CLASS\",
  \"from_date\":{\"year\":2026,\"month\":11,\"day\":2},\"to_date\":{\"year\":2026,\"month\":11,\"day\":8}}"
echo "A lesson on the holiday is refused, naming the field:"
call $GB "$ADMIN" asurso.gradebook.v1.TimetableService/ScheduleLesson "{\"class_id\":\"$CLASS\",\"subject_id\":\"$MATHS\",
  \"date\":{\"year\":2026,\"month\":11,\"day\":4},\"period\":1}" || true

call $GB "$ADMIN" asurso.gradebook.v1.ClassService/EnrolStudent "{\"class_id\":\"$CLASS\",\"student_id\":\"$STUDENT\"}" >/dev/null
TEACHER_TOKEN=$(login "teacher.$RUN" "teacher.$RUN-password-1")
LESSON=$(call $GB "$TEACHER_TOKEN" asurso.gradebook.v1.TimetableService/GetTimetable "{\"class_id\":\"$CLASS\",
  \"from_date\":{\"year\":2026,\"month\":11,\"day\":2},\"to_date\":{\"year\":2026,\"month\":11,\"day\":2}}" | field '["lessons"][0]["id"]')
HOMEWORK=$(call $GB "$TEACHER_TOKEN" asurso.gradebook.v1.JournalService/CreateAssignment "{\"lesson_id\":\"$LESSON\",
  \"type\":\"homework\",\"title\":\"Дроби\",\"text\":\"№ 245, 247\",\"due_date\":{\"year\":2026,\"month\":11,\"day\":9}}" | field '["assignment"]["id"]')
call $GB "$TEACHER_TOKEN" asurso.gradebook.v1.JournalService/SetMarks "{\"assignment_id\":\"$HOMEWORK\",
  \"marks\":[{\"student_id\":\"$STUDENT\",\"value\":{\"kind\":\"MARK_KIND_GRADE\",\"grade\":5}}]}" >/dev/null
echo "A mark outside 1-5 is refused, naming the field:"
call $GB "$TEACHER_TOKEN" asurso.gradebook.v1.JournalService/SetMarks "{\"assignment_id\":\"$HOMEWORK\",
  \"marks\":[{\"student_id\":\"$STUDENT\",\"value\":{\"kind\":\"MARK_KIND_GRADE\",\"grade\":6}}]}" || true
echo "The student's diary for the week of 2 November (the homework with its mark):"
STUDENT_TOKEN=$(login "student.$RUN" "student.$RUN-password-1")
call $GB "$STUDENT_TOKEN" asurso.gradebook.v1.DiaryService/GetDiaryWeek "{\"student_id\":\"$STUDENT\",
  \"date\":{\"year\":2026,\"month\":11,\"day\":2}}"
echo "The student's mother logs in through the development ESIA (demo person 1000000001, SNILS 345-678-912 26):"
MOTHER=$(call $ID "$ADMIN" asurso.identity.v1.PeopleService/RegisterPerson \
  "{\"org_unit_id\":\"$SCHOOL\",\"role\":\"ROLE_PARENT\",\"person\":{\"last_name\":\"Иванова\",\"first_name\":\"Мария\",\"birth_date\":{\"year\":1985,\"month\":3,\"day\":14},\"snils\":\"345-678-912 26\"}}" 2>/dev/null \
  | field '["person"]["id"]' || true)
if [ -z "$MOTHER" ]; then
  echo "(she was registered by an earlier run, as that run's student's mother: log her in with deploy/local/esia-login.sh)"
  exit 0
fi
call $ID "$ADMIN" asurso.identity.v1.PeopleService/LinkGuardian "{\"parent_id\":\"$MOTHER\",\"student_id\":\"$STUDENT\"}" >/dev/null
MOTHER_TOKEN=$(bash "$(dirname "$0")/esia-login.sh" 1000000001 | field '["tokens"]["accessToken"]')
echo "Her child's diary, read with the token the ESIA login gave her:"
call $GB "$MOTHER_TOKEN" asurso.gradebook.v1.DiaryService/GetDiaryWeek "{\"student_id\":\"$STUDENT\",
  \"date\":{\"year\":2026,\"month\":11,\"day\":2}}" | head -20
