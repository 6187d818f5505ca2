; Inno Setup 6 script: a Windows installer for the one-folder bundle. NOT TESTED: written on Linux.
;
; On Windows (x64, Python 3.11, Inno Setup 6 on PATH), from the repository root:
;   py -3.11 -m venv installer\build\venv
;   installer\build\venv\Scripts\python -m pip install . pyinstaller==6.22.3 pyinstaller-hooks-contrib==2026.9
;   installer\build\venv\Scripts\python -m PyInstaller --noconfirm --distpath installer\dist --workpath installer\build\work installer\limelight.spec
;   installer\dist\limelight\limelight.exe --self-test
;   iscc installer\windows\limelight.iss
; The setup program lands in installer\dist\. It installs for the current user without asking
; for administrator rights (or for everyone, if the user chooses so in the first page).

#define AppVersion "0.1.0"

[Setup]
AppId={{B1F317FE-3A74-46E4-873C-98C0FDDD6F22}
AppName=Limelight
AppVersion={#AppVersion}
AppPublisher=Limelight
AppComments=See why an image classifier decided what it decided
DefaultDirName={autopf}\Limelight
DefaultGroupName=Limelight
DisableProgramGroupPage=yes
PrivilegesRequired=lowest
PrivilegesRequiredOverridesAllowed=dialog
ArchitecturesAllowed=x64compatible
ArchitecturesInstallIn64BitMode=x64compatible
OutputDir=..\dist
OutputBaseFilename=Limelight-{#AppVersion}-setup
SetupIconFile=limelight.ico
UninstallDisplayIcon={app}\limelight.exe
; Solid LZMA2 gives the smallest setup program, at the cost of a slower build.
Compression=lzma2
SolidCompression=yes
ChangesAssociations=yes
WizardStyle=modern

[Tasks]
Name: "desktopicon"; Description: "{cm:CreateDesktopIcon}"; GroupDescription: "{cm:AdditionalIcons}"; Flags: unchecked
Name: "keras"; Description: "Open .keras model files with Limelight"; GroupDescription: "File types:"

[Files]
Source: "..\dist\limelight\*"; DestDir: "{app}"; Flags: ignoreversion recursesubdirs createallsubdirs

[Icons]
Name: "{autoprograms}\Limelight"; Filename: "{app}\limelight.exe"
Name: "{autodesktop}\Limelight"; Filename: "{app}\limelight.exe"; Tasks: desktopicon

[Registry]
; .keras files: Limelight is their program when the user ticks the task.
Root: HKA; Subkey: "Software\Classes\.keras"; ValueType: string; ValueName: ""; ValueData: "Limelight.KerasModel"; Flags: uninsdeletevalue; Tasks: keras
Root: HKA; Subkey: "Software\Classes\Limelight.KerasModel"; ValueType: string; ValueName: ""; ValueData: "Keras model"; Flags: uninsdeletekey; Tasks: keras
Root: HKA; Subkey: "Software\Classes\Limelight.KerasModel\DefaultIcon"; ValueType: string; ValueName: ""; ValueData: "{app}\limelight.exe,0"; Tasks: keras
Root: HKA; Subkey: "Software\Classes\Limelight.KerasModel\shell\open\command"; ValueType: string; ValueName: ""; ValueData: """{app}\limelight.exe"" ""%1"""; Tasks: keras
; Images and .h5 models: Limelight is offered under "Open with", and the user's viewer stays the default.
Root: HKA; Subkey: "Software\Classes\Applications\limelight.exe"; ValueType: string; ValueName: "FriendlyAppName"; ValueData: "Limelight"; Flags: uninsdeletekey
Root: HKA; Subkey: "Software\Classes\Applications\limelight.exe\shell\open\command"; ValueType: string; ValueName: ""; ValueData: """{app}\limelight.exe"" ""%1"""
Root: HKA; Subkey: "Software\Classes\Applications\limelight.exe\SupportedTypes"; ValueType: string; ValueName: ".png"; ValueData: ""
Root: HKA; Subkey: "Software\Classes\Applications\limelight.exe\SupportedTypes"; ValueType: string; ValueName: ".jpg"; ValueData: ""
Root: HKA; Subkey: "Software\Classes\Applications\limelight.exe\SupportedTypes"; ValueType: string; ValueName: ".jpeg"; ValueData: ""
Root: HKA; Subkey: "Software\Classes\Applications\limelight.exe\SupportedTypes"; ValueType: string; ValueName: ".bmp"; ValueData: ""
Root: HKA; Subkey: "Software\Classes\Applications\limelight.exe\SupportedTypes"; ValueType: string; ValueName: ".tif"; ValueData: ""
Root: HKA; Subkey: "Software\Classes\Applications\limelight.exe\SupportedTypes"; ValueType: string; ValueName: ".tiff"; ValueData: ""
Root: HKA; Subkey: "Software\Classes\Applications\limelight.exe\SupportedTypes"; ValueType: string; ValueName: ".webp"; ValueData: ""
Root: HKA; Subkey: "Software\Classes\Applications\limelight.exe\SupportedTypes"; ValueType: string; ValueName: ".keras"; ValueData: ""
Root: HKA; Subkey: "Software\Classes\Applications\limelight.exe\SupportedTypes"; ValueType: string; ValueName: ".h5"; ValueData: ""
Root: HKA; Subkey: "Software\Classes\.png\OpenWithList\limelight.exe"; Flags: uninsdeletekey
Root: HKA; Subkey: "Software\Classes\.jpg\OpenWithList\limelight.exe"; Flags: uninsdeletekey
Root: HKA; Subkey: "Software\Classes\.jpeg\OpenWithList\limelight.exe"; Flags: uninsdeletekey
Root: HKA; Subkey: "Software\Classes\.bmp\OpenWithList\limelight.exe"; Flags: uninsdeletekey
Root: HKA; Subkey: "Software\Classes\.tif\OpenWithList\limelight.exe"; Flags: uninsdeletekey
Root: HKA; Subkey: "Software\Classes\.tiff\OpenWithList\limelight.exe"; Flags: uninsdeletekey
Root: HKA; Subkey: "Software\Classes\.webp\OpenWithList\limelight.exe"; Flags: uninsdeletekey
Root: HKA; Subkey: "Software\Classes\.h5\OpenWithList\limelight.exe"; Flags: uninsdeletekey

[Run]
Filename: "{app}\limelight.exe"; Description: "{cm:LaunchProgram,Limelight}"; Flags: nowait postinstall skipifsilent
